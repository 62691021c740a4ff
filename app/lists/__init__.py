"""Lists for every door (SPEC §6): grammar, cursors, keyset pages, counts, column typing.

grammar.py reads a query string into a ListQuery; statements.py turns it into SQL;
keyset.py orders and seeks; cursors.py signs positions; pages.py reads a page; counts.py
counts cheaply; columns.py types outside values. The API (app/api/pages.py) and the
admin (app/admin/views/lists.py) both page through these.
"""
