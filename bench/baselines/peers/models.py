"""The product's `products`, `customers`, `orders` and `order_items` tables, read as they are.

Unmanaged: Django never creates, migrates or alters them (the product's migrations own them).
"""

from __future__ import annotations

from django.db import models


class Product(models.Model):
    sku = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    description = models.TextField()
    price = models.DecimalField(max_digits=12, decimal_places=2)
    stock = models.IntegerField()
    reorder_level = models.IntegerField()
    is_active = models.BooleanField()
    version = models.IntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "products"

    def __str__(self) -> str:
        return self.sku


class Customer(models.Model):
    name = models.CharField(max_length=200)
    email = models.CharField(max_length=320)
    phone = models.CharField(max_length=50)
    company = models.CharField(max_length=200)
    notes = models.TextField()
    is_active = models.BooleanField()
    version = models.IntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "customers"


class Order(models.Model):
    number = models.CharField(max_length=20)
    customer = models.ForeignKey(Customer, on_delete=models.DO_NOTHING, related_name="+")
    status = models.CharField(max_length=16)
    notes = models.TextField()
    total = models.DecimalField(max_digits=12, decimal_places=2)
    placed_at = models.DateTimeField(null=True)
    # The staff user who created it: a plain id here (the users table is not modelled).
    created_by_id = models.IntegerField(null=True)
    version = models.IntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "orders"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.DO_NOTHING, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.DO_NOTHING, related_name="+")
    quantity = models.IntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "order_items"
