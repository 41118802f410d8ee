"""fastapi_poe's own attachment-message insertion, for the host's differential test.

Usage: python attachment_messages.py < requests.json
Reads a JSON array of query request bodies on stdin and prints one JSON array: for each
request, its query after fastapi_poe 0.0.83's `PoeBot.insert_attachment_messages`, each
message reduced to FIELDS (what tests/integration/attachments.rs compares).
"""

import importlib.metadata
import json
import sys

import fastapi_poe as fp

VERSION = "0.0.83"
FIELDS = ("role", "content", "content_type", "timestamp", "message_id", "sender_id", "sender", "attachments", "metadata")


def inserted(body: dict) -> list[dict]:
    request = fp.QueryRequest.model_validate(body)
    query = fp.PoeBot().insert_attachment_messages(request).query
    return [{field: message.model_dump(mode="json")[field] for field in FIELDS} for message in query]


def main() -> None:
    version = importlib.metadata.version("fastapi-poe")
    if version != VERSION:
        sys.exit(f"fastapi-poe {version} is installed, the host follows {VERSION}: rerun scripts/setup.sh")
    json.dump([inserted(body) for body in json.load(sys.stdin)], sys.stdout)


main()
