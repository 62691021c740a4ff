"""Saved list views: a staff member's named list URL, private or shared with all staff."""
