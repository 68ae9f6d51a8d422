"""Contacts: the People API connections of a connected Google account (`GET .../contacts`)."""
