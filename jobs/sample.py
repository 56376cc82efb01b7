"""Create the topics and produce the sample payments: `python jobs/sample.py --payments 20000 --reset`."""

import sys

# Python runs a script with its own folder first on the path, where this file's name
# (jobs/settlement.py) would shadow the settlement package.
del sys.path[0]

from settlement.arguments import OneLineParser
from settlement.broker import create_topics
from settlement.config import load_settings
from settlement.exits import CannotRun, Exit, Failed, report
from settlement.reference import rows_from_csv
from settlement.sample import generate, produce
from settlement.tables import MerchantRow

PARTITIONS = 6


def main() -> int:
    parser = OneLineParser(prog="sample", description=__doc__)
    parser.add_argument("--payments", type=int, default=20_000, help="distinct payment events (default 20000)")
    parser.add_argument("--days", type=int, default=3, help="approval days to spread them over (default 3)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--reset",
        action="store_true",
        help="delete and recreate the payment and statistics topics first (without it: create the payment "
        "topic if it is missing)",
    )
    args = parser.parse_args()
    try:
        settings = load_settings()
        merchants = rows_from_csv(settings.reference.merchants, MerchantRow)
        kafka = settings.kafka
        # Only --reset touches the statistics topic: a producer may not even see it (its ACLs).
        topics = {kafka.payment_topic: PARTITIONS} | ({kafka.statistics_topic: 3} if args.reset else {})
        create_topics(kafka, topics, recreate=args.reset)
        records = generate(
            args.payments, merchants, days=args.days, partitions=PARTITIONS, seed=args.seed, id_prefix=f"S{args.seed}-"
        )
        produced = produce(records, kafka)
    except (CannotRun, Failed) as error:
        return report("sample", error)
    malformed = sum(1 for p in produced if p.record.malformed)
    print(f"sample: produced {len(produced)} records ({malformed} malformed) to {kafka.payment_topic!r}")
    return Exit.DONE


if __name__ == "__main__":
    sys.exit(main())
