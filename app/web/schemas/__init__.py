"""The shapes of the JSON the API answers with, as pydantic models: FastAPI checks every answer against
them and publishes them in the OpenAPI schema. One module per resource, plus the one error body."""
