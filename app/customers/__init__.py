"""Customers: the people and companies orders are for."""
