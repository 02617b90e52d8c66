"""The ingestion benchmark's baseline: a FastAPI endpoint that only answers 202, served by
uvicorn with the options `shipline api` uses.   python -m bench.bare_app PORT"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.post("/webhooks/github", status_code=202)
async def accept() -> dict[str, str]:
    return {"run_id": "bare"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
