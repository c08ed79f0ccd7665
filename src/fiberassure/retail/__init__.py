"""The retail ISP's side: the SDK (`client`), the notification listener and the CLI."""
