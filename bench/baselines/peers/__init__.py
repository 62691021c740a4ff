"""The Django peers' one app: unmanaged models over the product's own tables (label `app`)."""
