"""The public link server: confirmation pages, redemption, JSON API and delivery to Camunda."""
