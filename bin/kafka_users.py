"""The secured local broker's SCRAM users, set (again) from its secrets file through the admin
listener: `settlement` (the job), `payments` (the payment team's producer), `intruder` (no rights).
Called by `bin/kafka.sh start secure`; what each may do is granted per topic by the tests."""

from __future__ import annotations

import sys
import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

ADMIN = "localhost:9195"
USERS = ("settlement", "payments", "intruder")


def main(secrets_file: str) -> int:
    secrets = dict(line.split("=", 1) for line in open(secrets_file).read().split())
    admin = AdminClient({"bootstrap.servers": ADMIN})
    upserts = [
        UserScramCredentialUpsertion(
            user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), secrets[f"{user.upper()}_PASSWORD"].encode()
        )
        for user in USERS
    ]
    for attempt in range(60):  # the controller takes a moment to accept metadata changes
        try:
            for future in admin.alter_user_scram_credentials(upserts).values():
                future.result()
            return 0
        except KafkaException as error:
            if attempt == 59:
                print(f"kafka: cannot create the SCRAM users: {error}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
