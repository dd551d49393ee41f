"""End-to-end tests: a real uvicorn server, the websockets client, fake carriers."""
