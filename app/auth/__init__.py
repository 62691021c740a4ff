"""Authentication: passwords, tokens, admin sessions and the Principal they produce."""
