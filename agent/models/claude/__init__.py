"""Claude through the official SDK: the adapter (`adapter`), its request body (`body`), each model's limits and
thinking (`catalog`), and the SDK's errors in the service's terms (`errors`)."""
