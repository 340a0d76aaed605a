"""Fairness: many connections all active against cport-echo, none left waiting."""
