"""The API's routers; each is thin and calls the service modules."""
