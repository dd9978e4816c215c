"""Write a .env with fresh random keys for a local demo (never commit it). Used by `make demo`."""

from __future__ import annotations

import base64
import secrets
import sys
from pathlib import Path


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def main(path: str = ".env") -> None:
    target = Path(path)
    if target.exists():
        print(f"{path} exists; keeping its keys")
        return
    target.write_text(
        "# Generated for the local demo by config/make_env.py. Keep it secret; losing the keys loses the data.\n"
        "DJANGO_SETTINGS_MODULE=config.settings.local\n"
        f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"ALLOT_BLIND_INDEX_KEY={_key()}\n"
        f"ALLOT_DATA_KEYS=k1:{_key()}\n"
        "DJANGO_DEBUG=false\n",
        encoding="utf-8",
    )
    target.chmod(0o600)
    print(f"wrote {path} with new keys")


if __name__ == "__main__":
    main(*sys.argv[1:])
