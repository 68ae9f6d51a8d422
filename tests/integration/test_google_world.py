from brokertest.google import seed_connection
from oauth_broker.crypto.envelope import EncryptionContext


def test_given_a_seeded_connection_when_its_token_is_decrypted_then_the_fake_google_accepts_it(google_world):
    world, fake = google_world
    rec, tokens = seed_connection(world, fake, scopes=["gmail.readonly"])
    token = world.services.envelope.decrypt(
        rec.enc_access_token, EncryptionContext(rec.tenant, rec.id, "access_token")
    ).decode()
    assert token == tokens["access_token"]
    resp = world.services.http.get(
        "https://fake-google.test/gmail/v1/users/me/profile", headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200 and resp.json()["emailAddress"] == "alice@example.com"
    assert "https://www.googleapis.com/auth/gmail.readonly" in rec.scopes_granted
