"""A WedSync-like demo database: schema, realistic seed data and a load generator."""
