"""Which model and prompt version a turn runs on: the router, the model routes and the prompt versions."""
