"""The token in-process gateway tests read with: reads need one unless public_read is set."""

READ_TOKEN = "gateway-tests-reader-0123456789"
READER = {"Authorization": f"Bearer {READ_TOKEN}"}
