"""Products: what the company sells, with stock that never goes negative."""
