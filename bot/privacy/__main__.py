"""python -m bot.privacy — data protection for operators (docs/data-protection.md).

  id       the conversation id of a phone number (SMS/WhatsApp conversations are named by a keyed hash)
  export   everything held about a person (a subject access request), as JSON
  erase    erase a person's data (as "delete my data" does in the chat), e.g. after a request by post
  purge    remove personal data older than the retention period (the alert worker runs this daily)
"""
from __future__ import annotations

import argparse
import sys

from bot import migrate
from bot.privacy import conversation_id


def _conversation(args) -> str:
    return args.conversation or conversation_id(args.number)


def cmd_id(args) -> int:
    print(conversation_id(args.number))
    return 0


def cmd_export(args) -> int:
    from bot.privacy.access import held_about, to_json
    migrate.upgrade()
    print(to_json(held_about(_conversation(args))))
    return 0


def cmd_erase(args) -> int:
    from bot.privacy.erasure import erase
    migrate.upgrade()
    result = erase(_conversation(args), "operator")
    print("Erased: " + (", ".join(f"{k} {v}" for k, v in result.removed.items() if v) or "nothing was held"))
    if result.waiting:
        print("An alert about this conversation is still being delivered: the alert worker erases the rest "
              "as soon as it is.")
    return 0


def cmd_purge(args) -> int:
    from bot.privacy.retention import parse_age, purge
    migrate.upgrade()
    counts = purge(parse_age(args.older_than) if args.older_than else None)
    print("Purged: " + (", ".join(f"{k} {v}" for k, v in counts.items() if v) or "nothing was old enough"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.privacy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ident = sub.add_parser("id", help="the conversation id of a phone number")
    ident.add_argument("number", help="e.g. +447700900123 or whatsapp:+447700900123")
    ident.set_defaults(run=cmd_id)
    for name, run, text in (("export", cmd_export, "everything held about a person"),
                            ("erase", cmd_erase, "erase a person's data")):
        command = sub.add_parser(name, help=text)
        who = command.add_mutually_exclusive_group(required=True)
        who.add_argument("--conversation", help="the conversation id (twilio:…, web:…, or a REST sender id)")
        who.add_argument("--number", help="a phone number: its conversation id is computed the same way")
        command.set_defaults(run=run)
    purge = sub.add_parser("purge", help="remove personal data older than the retention period")
    purge.add_argument("--older-than", help="e.g. 90d or 12w (default: RETENTION_DAYS, 90 days)")
    purge.set_defaults(run=cmd_purge)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
