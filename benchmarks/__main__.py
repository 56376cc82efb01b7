"""`python -m benchmarks` (make bench): the settlement job side by side with the engine's ceiling.

One run, one machine, one Spark session: a fixed, seeded data set on its own topic, then the
ceiling, the job and its stages, the classification implementations and the statistics write as
the table grows. Results go to <results>/<UTC time>/results.{json,md}; the table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from importlib.metadata import version
from pathlib import Path

from pyspark.sql import functions as F

from benchmarks import measure, profile, steady
from settlement.arguments import OneLineParser, one_line
from settlement.broker import BrokerError, create_topics, offsets, partition_count
from settlement.config import Settings, load_settings
from settlement.exits import CannotRun, Exit, Failed, report
from settlement.reference import rows_from_csv
from settlement.sample import generate, produce
from settlement.session import jvm, spark_session
from settlement.tables import MerchantRow

# The data set's first approval date; the history step's payments come before it.
FIRST_DAY = date(2025, 5, 17)
# One message with every field the contract knows: `from_json` in the ceiling parses this shape.
EXAMPLE = json.dumps(
    {
        "channel": "ONLINE",
        "action": "PAYMENT",
        "data": {
            "paymentId": "P-1",
            "paymentType": "ONLINE",
            "amount": 1000,
            "merchantNumber": "merchant-0001",
            "paymentDate": "2025-05-18T10:00:00.000000",
            "paymentActionType": "PAYMENT",
            "paymentMethodType": "CARD",
            "payoutDate": "2025-05-20",
            "confirmDate": "2025-05-19",
            "test": False,
            "networkCancel": False,
            "approvalStatus": "APPROVED",
            "closingDate": "2025-05-18",
        },
    }
)


def parser() -> OneLineParser:
    arguments = OneLineParser(prog="bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    arguments.add_argument("--payments", type=int, default=1_000_000, help="distinct payments (default 1000000)")
    arguments.add_argument("--partitions", type=int, default=6, help="partitions of the topic (default 6)")
    arguments.add_argument("--seed", type=int, default=11)
    arguments.add_argument(
        "--max-offsets-per-trigger",
        type=int,
        help="records per micro-batch at most, the ceiling's and the job's (default: the settings')",
    )
    arguments.add_argument(
        "--history-payments",
        type=int,
        default=20_000_000,
        help="payments the base holds before the history step's run (default 20000000; 0 skips it)",
    )
    arguments.add_argument("--statistics-sizes", default="1,10,100", help="statistics table sizes, in batches of keys")
    arguments.add_argument(
        "--rates",
        default="5000,10000,15000",
        help='steady producer rates, payments/s, until one is not kept up; "" for none (default 5000,10000,15000)',
    )
    arguments.add_argument("--steady-seconds", type=float, default=180, help="how long each rate runs (default 180)")
    arguments.add_argument("--trigger", default="1 second", help="the job's trigger interval under steady load")
    arguments.add_argument(
        "--long-minutes",
        type=float,
        default=0,
        help="a long run at --long-rate with maintenance on its schedule, for so many minutes (default 0: none)",
    )
    arguments.add_argument("--long-rate", type=int, default=5000, help="the long run's payments/s (default 5000)")
    arguments.add_argument(
        "--maintain-every", type=float, default=10, help="minutes between the long run's maintenance runs (default 10)"
    )
    arguments.add_argument(
        "--profile",
        action="store_true",
        help="record Spark's event log, and show where the job step's batches spent their time, per stage"
        " (`python -m benchmarks.profile`)",
    )
    arguments.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    arguments.add_argument(
        "--workspace",
        type=Path,
        default=Path(".local/bench"),
        help="where the runs' tables and checkpoints go (emptied per run)",
    )
    return arguments


def data_set(settings: Settings, payments: int, partitions: int, seed: int) -> tuple[Settings, int]:
    """The bench's topic, produced once per size and seed (the generator is deterministic)."""
    topic = f"bench-{payments}-p{partitions}-s{seed}"
    kafka = settings.kafka.model_copy(update={"payment_topic": topic, "statistics_topic": f"{topic}-statistics"})
    try:
        partition_count(kafka, topic)
    except BrokerError:
        create_topics(kafka, {topic: partitions, kafka.statistics_topic: 1})
    held = sum(high - low for low, high in offsets(kafka, topic).values())
    if not held:
        print(f"bench: producing {payments:,} payments to {topic} ...", flush=True)
        merchants = rows_from_csv(settings.reference.merchants, MerchantRow)
        sample = generate(
            payments, merchants, first_day=FIRST_DAY, partitions=partitions, seed=seed, id_prefix=f"B{seed}-"
        )
        held = len(produce(sample, kafka))
    return settings.model_copy(update={"kafka": kafka}), held


def machine(spark) -> dict:
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "java": jvm(spark).java.lang.System.getProperty("java.version"),
        "pyspark": version("pyspark"),
        "delta-spark": version("delta-spark"),
    }


def run(args: argparse.Namespace, save: Callable[[dict], None]) -> dict:
    """Every measurement in turn; `save` gets the results after each, so a late failure keeps the rest."""
    settings = load_settings()
    batch = args.max_offsets_per_trigger or settings.kafka.max_offsets_per_trigger
    settings = settings.model_copy(
        update={
            "storage": settings.storage.model_copy(update={"root": str((args.workspace / "lake").resolve())}),
            "kafka": settings.kafka.model_copy(update={"max_offsets_per_trigger": batch}),
        }
    )
    settings, records = data_set(settings, args.payments, args.partitions, args.seed)
    events = (args.workspace / "eventlog").resolve()
    if args.profile:
        shutil.rmtree(events, ignore_errors=True)
        events.mkdir(parents=True)
        # Uncompressed, the log can be read while the session runs: Spark flushes it at each job's end.
        logged = {
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": events.as_uri(),
            "spark.eventLog.compress": "false",
        }
        settings = settings.model_copy(
            update={"spark": settings.spark.model_copy(update={"conf": {**settings.spark.conf, **logged}})}
        )
    spark = spark_session(settings.spark, "settlement-bench")
    if args.profile and spark.conf.get("spark.eventLog.enabled", "false") != "true":
        raise CannotRun("--profile needs a Spark session of its own: this process made one without the event log")
    schema = spark.range(1).select(F.schema_of_json(F.lit(EXAMPLE))).first()[0]
    results: dict = {
        "machine": machine(spark),
        "settings": {
            "master": settings.spark.master,
            "shuffle_partitions": settings.spark.shuffle_partitions,
            "read_tasks": settings.spark.read_tasks,
            "snapshot_partitions": settings.spark.snapshot_partitions,
            "driver_memory": spark.conf.get("spark.driver.memory", "1g"),
            "max_offsets_per_trigger": batch,
            "trigger": f"availableNow; steady load: {args.trigger}",
            "maintain_every_minutes": args.maintain_every,
        },
        "data_set": {
            "payments": args.payments,
            "records": records,
            "partitions": args.partitions,
            "seed": args.seed,
            "topic": settings.kafka.payment_topic,
        },
    }

    memory, current = steady.PeakMemory(), ""
    results["peak_rss_mib"] = {}

    def step(name: str) -> None:
        """The step before ends, its peak memory recorded, and `name` begins ("": the end)."""
        nonlocal current
        peak = memory.take()
        if current:
            results["peak_rss_mib"][current] = peak
        current = name
        save(results)
        if name:
            print(f"bench: {name} ...", flush=True)

    # The first pass over the topic also warms the JVM's JIT and the page cache: measured, it
    # came out slower than the heavier pass after it.
    step("warming up (the ceiling once, not measured)")
    measure.ceiling(spark, settings, schema, "from_json")
    step("ceiling (Kafka, from_json, one Delta append)")
    top = measure.ceiling(spark, settings, schema, "from_json")
    step("ceiling with the job's validation instead of from_json")
    validated = measure.ceiling(spark, settings, schema, "validation")
    step("the settlement job")
    job, stages, job_settings = measure.settlement_job(spark, settings)
    results["throughput"] = {
        name: {
            "records": r.records,
            "seconds": round(r.seconds, 1),
            "batches": r.batches,
            "records_per_second": round(r.per_second),
            "ratio_to_ceiling": round(r.per_second / top.per_second, 3),
        }
        for name, r in (("ceiling", top), ("ceiling with validation", validated), ("settlement job", job))
    }
    held = measure.state_bytes(job_settings)
    results["dedup_state"] = {
        "ids": job.ids_added,
        "checkpoint_bytes": held,
        "bytes_per_million_ids": round(held / job.ids_added * 1e6) if job.ids_added else None,
    }
    if args.profile:
        stages_, batches = profile.profile(profile.jobs(profile.events(next(events.iterdir()))), job.query)
        results["batch_profile"] = profile.table(stages_, batches, spark.sparkContext.defaultParallelism)
    commits = measure.commits_per_batch(spark, job_settings, job.batches)
    results["commits_per_batch"] = {"tables": commits, "total": round(sum(commits.values()), 2)}
    spent = sum(stages.values())
    results["stages"] = {
        name: {"seconds": round(seconds, 1), "share": round(seconds / spent, 3)}
        for name, seconds in sorted(stages.items(), key=lambda item: -item[1])
    }
    if args.history_payments:
        step(f"the settlement job over a base of {args.history_payments:,} earlier payments")
        prefilled_run, prefilled_batches = measure.history(spark, settings, args.history_payments, FIRST_DAY)
        empty_batches = measure.batch_seconds(spark, job_settings)
        first, empty = measure.first_and_median(empty_batches)
        seeded, prefilled = measure.first_and_median(prefilled_batches)
        results["history"] = {
            "prefilled_payments": args.history_payments,
            "median_batch_seconds": {"empty": round(empty, 2), "prefilled": round(prefilled, 2)},
            "first_batch_seconds": {"empty": round(first, 2), "prefilled": round(seeded, 2)},
            "batch_seconds": {
                "empty": [round(seconds, 2) for seconds in empty_batches],
                "prefilled": [round(seconds, 2) for seconds in prefilled_batches],
            },
            "ids_added": prefilled_run.ids_added,
            "growth": round(prefilled / empty, 2),
        }
    step("classification implementations")
    rates = measure.classifiers(spark, job_settings)
    native = rates[next(iter(rates))]
    results["classification"] = {
        name: {"rows_per_second": round(rate), "ratio_to_native": round(rate / native, 3)}
        for name, rate in rates.items()
    }
    step("statistics write as the table grows")
    sizes = tuple(int(size) for size in args.statistics_sizes.split(","))
    keys, timings = measure.statistics_growth(spark, settings, job_settings, sizes)
    results["statistics_write"] = {
        "keys_per_batch": keys,
        "seconds": {f"{size}x": round(seconds, 2) for size, seconds in timings.items()},
        "growth": round(timings[sizes[-1]] / timings[sizes[0]], 2),
    }
    results["steady"] = []
    for rate in (int(rate) for rate in args.rates.split(",") if rate):
        step(f"steady load at {rate:,} payments/s for {args.steady_seconds:.0f} s")
        try:
            results["steady"].append(steady.run(spark, settings, rate, args.steady_seconds, args.trigger).summary())
        except Exception as error:  # the job failing under load is a result too, and ends the ramp
            results["steady"].append({"rate": rate, "kept_up": False, "failed": one_line(error)})
        if not results["steady"][-1]["kept_up"]:
            break
    kept_up = [run["rate"] for run in results["steady"] if run["kept_up"]]
    results["highest_sustained_rate"] = max(kept_up) if kept_up else None
    if args.long_minutes:
        seconds = args.long_minutes * 60
        step(
            f"long run: {args.long_rate:,} payments/s for {args.long_minutes:g} min, maintenance every "
            f"{args.maintain_every:g} min"
        )
        run = steady.run(spark, settings, args.long_rate, seconds, args.trigger, args.maintain_every * 60)
        results["long_run"] = run.long_summary(window=min(600, seconds / 3))
    step("")
    return results


def _steady_row(run: dict) -> str:
    if "failed" in run:
        return f"| {run['rate']:,} | no: the job failed ({run['failed'][:120]}) | | | | |"
    latency = run["latency_seconds"]
    kept_up = f"{'yes' if run['kept_up'] else 'no'} ({run['drain_seconds']} s)"
    rows, size = run["ids_added"], run["state_bytes"]
    return (
        f"| {run['rate']:,} | {kept_up} | {latency['p50']} / {latency['p95']} / {latency['p99']} "
        f"| {run['median_batch_seconds']} | {rows['mid']} / {size['mid']} → {rows['end']} / {size['end']} "
        f"| {run['peak_driver_rss_mib']:,} / {run['peak_python_workers_rss_mib']:,} |"
    )


def _history_lines(history: dict) -> list[str]:
    seconds = history["median_batch_seconds"]
    return [
        f"History: the job's median batch {seconds['empty']} s over an empty base, {seconds['prefilled']} s over "
        f"{history['prefilled_payments']:,} earlier payments ({history['growth']}x; the target is at most 1.2x). "
        f"The first batch, which seeds the dedup state from the base: {history['first_batch_seconds']['empty']} s "
        f"and {history['first_batch_seconds']['prefilled']} s. Every batch, in seconds: "
        f"{', '.join(map(str, history['batch_seconds']['empty']))} over the empty base; "
        f"{', '.join(map(str, history['batch_seconds']['prefilled']))} over the earlier payments.",
        "",
    ]


def markdown(results: dict) -> str:
    data, machine_, settings = results["data_set"], results["machine"], results["settings"]
    tasks = settings.get("read_tasks")
    reading = f"the topic read in {tasks} tasks" if tasks else "a task per partition"
    lines = [
        f"Data set: {data['payments']:,} payments, {data['records']:,} records on {data['partitions']} partitions "
        f"(seed {data['seed']}). Machine: {machine_['cores']} cores, {machine_['memory_gib']} GiB, Java "
        f"{machine_['java']}, pyspark {machine_['pyspark']}, delta-spark {machine_['delta-spark']}; "
        f"{settings['master']}, {settings['shuffle_partitions']} shuffle partitions, {reading}, "
        f"driver memory {settings['driver_memory']}, "
        f"{settings['max_offsets_per_trigger']:,} records per batch at most.",
        "",
        "| measure | records/s | seconds | ratio to the ceiling |",
        "|---|---:|---:|---:|",
        *(
            f"| {name} | {r['records_per_second']:,} | {r['seconds']} | {r['ratio_to_ceiling']:.2f} |"
            for name, r in results["throughput"].items()
        ),
        "",
        f"Delta commits per batch of the job: {results['commits_per_batch']['total']} ("
        + ", ".join(f"{name} {n}" for name, n in results["commits_per_batch"]["tables"].items())
        + ").",
        f"Dedup state at the job's end: {results['dedup_state']['ids']:,} ids, "
        f"{results['dedup_state']['checkpoint_bytes']:,} bytes in the checkpoint "
        f"({results['dedup_state']['bytes_per_million_ids']:,} per million ids).",
        "",
        "| stage of the job | seconds | share |",
        "|---|---:|---:|",
        *(f"| {name} | {s['seconds']} | {s['share']:.0%} |" for name, s in results["stages"].items()),
        "",
        *(
            ["Where the job's batches spent their time (Spark's event log):", "", results["batch_profile"], ""]
            if "batch_profile" in results
            else []
        ),
        *(_history_lines(results["history"]) if "history" in results else []),
        "| classification | rows/s | ratio to native |",
        "|---|---:|---:|",
        *(
            f"| {name} | {c['rows_per_second']:,} | {c['ratio_to_native']:.2f} |"
            for name, c in results["classification"].items()
        ),
        "",
        f"| statistics write, {results['statistics_write']['keys_per_batch']:,} keys per batch | seconds |",
        "|---|---:|",
        *(
            f"| table of {size} the batch's keys | {seconds} |"
            for size, seconds in results["statistics_write"]["seconds"].items()
        ),
        f"| growth | {results['statistics_write']['growth']}x |",
        "",
        "| steady load, payments/s | kept up (drained in) | latency p50 / p95 / p99 (s) | median batch (s) "
        "| ids added / state bytes, mid → end | peak RSS driver / Python workers (MiB) |",
        "|---:|---|---|---:|---|---|",
        *(_steady_row(run) for run in results["steady"]),
        "",
        f"Highest sustained rate: {results['highest_sustained_rate'] or 'none of those tried'} payments/s.",
    ]
    lines += [
        "",
        "| step | peak RSS, driver / Python workers (MiB) |",
        "|---|---|",
        *(
            f"| {name} | {peak['driver']:,} / {peak['python_workers']:,} |"
            for name, peak in results["peak_rss_mib"].items()
        ),
    ]
    if long := results.get("long_run"):
        window = long["window_seconds"] / 60
        compactions = [r for r in long["maintenance_runs"] if "failed" not in r]
        lines += [
            "",
            f"Long run: {long['rate']:,} payments/s for {long['seconds'] / 60:g} min, maintenance every "
            f"{results['settings'].get('maintain_every_minutes', '?')} min ({len(compactions)} runs, "
            f"{len(long['maintenance_runs']) - len(compactions)} refused by a conflict). Median batch "
            f"{long['median_batch_seconds_first_window']} s in the first {window:g} min, "
            f"{long['median_batch_seconds_last_window']} s in the last {window:g} min: {long['growth']}x "
            f"(the target is at most 1.2x); kept up: {'yes' if long['kept_up'] else 'no'}; latency p50 / p95 / "
            f"p99 {long['latency_seconds']['p50']} / {long['latency_seconds']['p95']} / "
            f"{long['latency_seconds']['p99']} s; peak RSS driver {long['peak_driver_rss_mib']:,} MiB.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    folder = args.results / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder.mkdir(parents=True, exist_ok=True)

    def save(results: dict) -> None:
        (folder / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")

    try:
        results = run(args, save)
    except (CannotRun, Failed) as error:
        return report("bench", error)
    table = markdown(results)
    (folder / "results.md").write_text(table)
    print(f"\n{table}\nbench: results in {folder}")
    return Exit.DONE


if __name__ == "__main__":
    sys.exit(main())
