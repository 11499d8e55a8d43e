"""The load suite: real release binaries as separate processes (Lambda instances), each behind its
own Runtime API emulator (runtime_api), against moto under one lock (moto_atomic) and the
project's Twilio model (twilio_model). Every scenario asserts its outcome; figures come from the run.

  --quick  the sizes `make test` runs (a minute or so)
  (none)   `make load`: the full sizes, written to tools/load/results.md and BENCHMARKS.md

Scenarios:
  many customers   N presses from N customers across >= 8 instances: N chats, N records, 0 errors
  double click     P concurrent presses by one customer across F fresh instances, R times, with
                   every core busy: exactly one chat each time, every answer 2xx
  duplicate close  W signed close webhooks (10 per chat) across 4 instances: each chat closed
                   exactly once, all 2xx; the next press opens a new chat
  faults           every create of every mode with its answer lost, the process killed after it,
                   Twilio 429/5xx/slower than the deadline, DynamoDB throttling and failing after
                   the claim and after Twilio opened the chat, Secrets Manager down at cold start:
                   nothing lost, nothing duplicated, the next press works (faults)
  availability     C customers polling GET /availability every 10 s for D s across 8 instances:
                   every answer 200 with the queue's figures, and at most one RealTimeStatistics
                   read per refresh interval (one CumulativeStatistics a minute) over all instances
  liveness         a chat whose end never reached us (webhook lost or 5xx, endChat failing in
                   DynamoDB, timers, no press at all, 5 webhooks, an Interaction refused until
                   fixed): the next press gets exactly one live chat (faults.liveness_run)

  --only <scenario>  runs one scenario (for working on it; results are not written)
"""

import concurrent.futures
import os
import statistics
import subprocess
import sys
import time
import uuid

import boto3

from flex_handoff_dev import ROOT, faults
from flex_handoff_dev.aws_local import create_table, start_moto
from flex_handoff_dev.events import dev_env, guest_event, signed_close_event
from flex_handoff_dev.runtime_api import Instance
from flex_handoff_dev.servers import log

QUICK = "--quick" in sys.argv
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
SIZES = {
    "customers": 120 if QUICK else 1000,
    "instances": 8,
    "double_click_presses": 50,
    "double_click_instances": 20,
    "double_click_rounds": 3 if QUICK else 20,
    "close_chats": 20,
    "close_duplicates": 10,
    "webhook_instances": 4,
    "pollers": 200 if QUICK else 1000,
    "poll_seconds": 20 if QUICK else 60,
}
POLL_INTERVAL_S = 10


class BusyCpu:
    """Processes keeping every core busy, as other tenants' work would."""

    def __enter__(self):
        self.children = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range((os.cpu_count() or 2) + 1)]
        return self

    def __exit__(self, *_):
        for child in self.children:
            child.kill()
            child.wait()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def start_instances(function, env, count):
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: Instance(function, env), range(count)))


def many_customers(env, twilio, records):
    n, k = SIZES["customers"], SIZES["instances"]
    log(f"many customers: {n} presses from {n} customers across {k} instances...")
    instances = start_instances("create-channel", env, k)
    presses = [guest_event("channel-guest.json", f"guest-load-{uuid.uuid4()}") for _ in range(n)]
    before = twilio.chat_count()
    started = time.perf_counter()
    cpu_before = sum(i.cpu_ms() for i in instances)
    with concurrent.futures.ThreadPoolExecutor(k) as pool:
        answers = list(pool.map(lambda pair: instances[pair[0] % k].invoke(pair[1]), enumerate(presses)))
    wall = time.perf_counter() - started
    cpu = sum(i.cpu_ms() for i in instances) - cpu_before
    for instance in instances:
        instance.stop()
    statuses = [status for status, _, _ in answers]
    errors = sum(1 for s in statuses if s != 201)
    chats = twilio.chat_count() - before
    sids = {body["channelSid"] for _, body, _ in answers if "channelSid" in body}
    recorded = sum(1 for sid in sids if records(sid))
    latencies = [ms for _, _, ms in answers]
    failed = {status: body for status, body, _ in answers if status != 201}
    assert errors == 0, f"{errors} presses did not answer 201: {failed}"
    assert chats == n and len(sids) == n and recorded == n, f"{chats} chats, {len(sids)} answered, {recorded} recorded of {n}"
    return {"presses": n, "instances": k, "chats": chats, "records": recorded, "errors": errors,
            "throughput": n / wall, "p50": statistics.median(latencies), "p99": percentile(latencies, 99),
            "cpu_per_press": cpu / n}


def double_click(env, twilio):
    p, f, r = SIZES["double_click_presses"], SIZES["double_click_instances"], SIZES["double_click_rounds"]
    log(f"double click: {p} concurrent presses by one customer across {f} fresh instances, {r} rounds, CPU busy...")
    latencies, statuses, rounds = [], [], []
    with BusyCpu():
        for round_ in range(r):
            instances = start_instances("create-channel", env, f)
            identity = f"guest-click-{uuid.uuid4()}"
            press = guest_event("channel-guest.json", identity)
            with concurrent.futures.ThreadPoolExecutor(p) as pool:
                answers = list(pool.map(lambda i: instances[i % f].invoke(press), range(p)))
            for instance in instances:
                instance.stop()
            chats = twilio.chats_of(identity)
            got = [status for status, _, _ in answers]
            statuses += got
            latencies += [ms for _, _, ms in answers]
            answered = {body.get("channelSid") for _, body, _ in answers}
            assert len(chats) == 1, f"round {round_}: {len(chats)} chats for one customer"
            assert all(200 <= s < 300 for s in got), f"round {round_}: statuses {sorted(set(got))}: {[b for s, b, _ in answers if s >= 300][:2]}"
            assert answered == set(chats), f"round {round_}: answers name {answered}, Twilio has {chats}"
            rounds.append(got.count(201))
    assert all(created == 1 for created in rounds), f"201s per round: {rounds}"
    return {"presses": p, "instances": f, "rounds": r, "chats_per_round": 1, "non_2xx": 0,
            "p50": statistics.median(latencies), "p99": percentile(latencies, 99)}


def duplicate_close(env, twilio, records):
    c, d, w = SIZES["close_chats"], SIZES["close_duplicates"], SIZES["webhook_instances"]
    log(f"duplicate close: {c * d} signed close webhooks for {c} chats across {w} instances...")
    opener = Instance("create-channel", env)
    customers = [f"guest-close-{uuid.uuid4()}" for _ in range(c)]
    opened = {}
    for identity in customers:
        status, body, _ = opener.invoke(guest_event("channel-guest.json", identity))
        assert status == 201, body
        opened[identity] = body["channelSid"]
    instances = start_instances("flex-webhook", env, w)
    webhooks = [signed_close_event(env, sid) for sid in opened.values() for _ in range(d)]
    with concurrent.futures.ThreadPoolExecutor(w * 4) as pool:
        answers = list(pool.map(lambda pair: instances[pair[0] % w].invoke(pair[1]), enumerate(webhooks)))
    for instance in instances:
        instance.stop()
    statuses = [status for status, _, _ in answers]
    results = [body.get("result") for _, body, _ in answers]
    assert all(s == 200 for s in statuses), f"statuses {sorted(set(statuses))}"
    assert results.count("closed") == c, f"{results.count('closed')} closes for {c} chats"
    assert all(records(sid)["status"] == "closed" for sid in opened.values())
    reopened = 0
    for identity, sid in opened.items():
        status, body, _ = opener.invoke(guest_event("channel-guest.json", identity))
        assert status == 201 and body["channelSid"] != sid, (status, body)
        reopened += 1
    opener.stop()
    return {"webhooks": c * d, "chats": c, "instances": w, "closed_once": c, "non_2xx": 0, "reopened": reopened}


def availability_polling(env, twilio):
    """C customers each polling every 10 s, spread evenly, for D s; each of k instances answers its
    share one at a time, as a Lambda instance does."""
    c, d, k = SIZES["pollers"], SIZES["poll_seconds"], SIZES["instances"]
    refresh_s = int(env.get("AVAILABILITY_REFRESH_SECONDS", "10"))
    log(f"availability: {c} customers polling every {POLL_INTERVAL_S} s for {d} s across {k} instances...")
    instances = start_instances("create-channel", env, k)
    polls = [guest_event("availability-guest.json", f"guest-poll-{i}") for i in range(c)]
    # Warm every instance first: cold starts are measured elsewhere.
    for instance in instances:
        instance.invoke(polls[0])
    with twilio.lock:
        twilio.statistics_reads = {name: 0 for name in twilio.statistics_reads}
    step = POLL_INTERVAL_S / c
    total = int(d / step)
    started = time.monotonic() + 0.5

    def worker(w):
        answers = []
        for j in range(w, total, k):
            due = started + j * step
            time.sleep(max(0.0, due - time.monotonic()))
            status, body, ms = instances[w].invoke(polls[j % c])
            answers.append((status, body, ms, time.monotonic() - due))
        return answers

    cpu_before = sum(i.cpu_ms() for i in instances)
    with concurrent.futures.ThreadPoolExecutor(k) as pool:
        answers = [a for part in pool.map(worker, range(k)) for a in part]
    wall = time.monotonic() - started
    cpu = sum(i.cpu_ms() for i in instances) - cpu_before
    for instance in instances:
        instance.stop()
    reads = dict(twilio.statistics_reads)
    bad = [(status, body) for status, body, _, _ in answers if status != 200 or body.get("agentsAvailable") is None]
    assert not bad, f"{len(bad)} polls failed: {bad[:2]}"
    # One refresh per interval at most: the first read, then one each time the stored one ages out.
    allowed = int(wall // refresh_s) + 1
    assert 1 <= reads["RealTimeStatistics"] <= allowed, f"{reads} in {wall:.0f} s, at most {allowed} allowed"
    assert reads["CumulativeStatistics"] <= int(wall // 60) + 1, reads
    latencies = [ms for _, _, ms, _ in answers]
    return {"customers": c, "seconds": d, "instances": k, "polls": len(answers), "rate": len(answers) / wall,
            "realtime_reads": reads["RealTimeStatistics"], "cumulative_reads": reads["CumulativeStatistics"],
            "allowed": allowed, "refresh_s": refresh_s, "p50": statistics.median(latencies),
            "p99": percentile(latencies, 99), "late_p99": percentile([late for *_, late in answers], 99) * 1000,
            "cpu_per_poll": cpu / len(answers)}


def report(figures):
    lines = [f"## Load ({'quick' if QUICK else 'full'} sizes, `make load`)", "",
             f"Run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: release binaries as separate processes, each under",
             "its own Runtime API emulator, against moto under one lock and a stateful Twilio stand-in on",
             "loopback (`flex_handoff_dev.load`). Every row's outcome is asserted by the run.", "",
             "| scenario | size | outcome | throughput | p50 ms | p99 ms | CPU per press |", "|---|---|---|---|---|---|---|"]
    m = figures["many customers"]
    lines.append(f"| many customers | {m['presses']} presses, {m['instances']} instances | {m['chats']} chats, {m['records']} records, "
                 f"{m['errors']} errors | {m['throughput']:.0f}/s | {m['p50']:.1f} | {m['p99']:.1f} | {m['cpu_per_press']:.2f} ms |")
    d = figures["double click"]
    lines.append(f"| double click, CPU busy | {d['presses']} presses by one customer, {d['instances']} fresh instances, {d['rounds']} rounds | "
                 f"1 chat every round, 0 non-2xx | | {d['p50']:.1f} | {d['p99']:.1f} | |")
    lines_note = ["", "Throughput and latency here are bound by the stand-ins (moto serves one request at a time, in Python,",
                  "and shares the machine's cores with the instances); what carries over to Lambda is the functions'",
                  "CPU per press."]
    c = figures["duplicate close"]
    lines.append(f"| duplicate close | {c['webhooks']} webhooks for {c['chats']} chats, {c['instances']} instances | each closed once, "
                 f"0 non-2xx, {c['reopened']} next presses opened new chats | | | | |")
    a = figures["availability"]
    lines.append(f"| availability polling | {a['customers']} customers every {POLL_INTERVAL_S} s for {a['seconds']} s, {a['instances']} instances | "
                 f"{a['polls']} answers 200; Twilio read {a['realtime_reads']} RealTimeStatistics (at most {a['allowed']}: one per "
                 f"{a['refresh_s']} s) and {a['cumulative_reads']} CumulativeStatistics | {a['rate']:.0f}/s | {a['p50']:.1f} | "
                 f"{a['p99']:.1f} | {a['cpu_per_poll']:.2f} ms |")
    lines += lines_note
    lines += ["", f"### Faults ({len(figures['faults'])} cases, every one asserted)", "",
              "Each case is one customer's press on a fresh instance while one thing fails, then two presses",
              "once it is over (after the claim's lease where one was kept). Asserted for every row: exactly one",
              "chat in Twilio (in interactions mode one task), its record active with exactly one chat-end",
              "webhook registered, no history part posted twice, the later presses answer that chat; a failed first",
              "press answers `{\"error\":{\"code\",\"message\"}}`. A first press of \"-\" had its process killed.", "",
              "| case | first press | next press |", "|---|---|---|"]
    lines += [f"| {name} | {first if first else '-'} | {second} |" for name, first, second in figures["faults"]]
    lines += ["", f"### Every press reaches a live chat ({len(figures['liveness'])} cases, every one asserted)", "",
              "A chat whose end never reached us, then the customer's next press: exactly one live chat in Twilio,",
              "the one answered, recorded, with our chat-end webhook once (one task in interactions mode), every",
              f"ended chat's record closed, and the press after it reuses it. A reuse asks Twilio after {faults.LIVENESS_AFTER_S} s here",
              "(`LIVENESS_CHECK_AFTER_SECONDS`, 60 by default).", "",
              "| case | first | next press |", "|---|---|---|"]
    lines += [f"| {name} | {first} | {then} |" for name, first, then in figures["liveness"]]
    lines += ["", f"Secrets Manager unreachable at cold start (connections accepted, never answered): the instance "
              f"exits non-zero after {figures['secrets manager down']:.1f} s naming `TWILIO_SECRET_ARN`, no secret in its "
              "output; a fresh instance with Secrets Manager back opens the chat (201)."]
    return "\n".join(lines) + "\n"


def main():
    env = dev_env()
    # FLEX_HANDOFF_PLAIN_MOTO=1: the control, plain moto without the lock.
    moto_url, moto = start_moto()
    # The fault suite's stand-in with no faults: the same model, one state.
    twilio = faults.StatefulTwilio()
    try:
        table = "load-channels"
        create_table(moto_url, table)
        dynamodb = boto3.client("dynamodb", endpoint_url=moto_url, region_name="us-east-1",
                                aws_access_key_id="load", aws_secret_access_key="load")

        def records(sid):
            item = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"chat#{sid}"}}, ConsistentRead=True).get("Item")
            return {k: list(v.values())[0] for k, v in item.items()} if item else None

        host = twilio.url()
        function_env = {**env, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "load", "AWS_SECRET_ACCESS_KEY": "load",
                        "AWS_ENDPOINT_URL_DYNAMODB": moto_url, "CHANNELS_TABLE": table,
                        "TWILIO_FLEX_API_URL": host, "TWILIO_CHAT_API_URL": host, "TWILIO_CONVERSATIONS_API_URL": host,
                        "TWILIO_TASKROUTER_API_URL": host,
                        # AWS's defaults, not make dev's quick ones: the interval the limit is about.
                        "AVAILABILITY_REFRESH_SECONDS": "10", "AVAILABILITY_INSTANCE_CACHE_SECONDS": "5"}
        scenarios = {
            "many customers": lambda: many_customers(function_env, twilio, records),
            "double click": lambda: double_click(function_env, twilio),
            "duplicate close": lambda: duplicate_close(function_env, twilio, records),
            "availability": lambda: availability_polling(function_env, twilio),
            "faults": lambda: faults.run(function_env, moto_url, records, Instance),
            "liveness": lambda: faults.liveness_run(function_env, moto_url, records, Instance),
            "secrets manager down": lambda: faults.secrets_manager_down(function_env, Instance, moto_url),
        }
        if ONLY:
            log(f"{ONLY}: {scenarios[ONLY]()}")
            return
        figures = {name: scenario() for name, scenario in scenarios.items()}
    finally:
        moto.kill()
        moto.wait()
    text = report(figures)
    print(text)
    if not QUICK:
        (ROOT / "tools/load/results.md").write_text(text)
        benchmarks = ROOT / "BENCHMARKS.md"
        marker = "\n## Load ("
        current = benchmarks.read_text()
        kept = current.split(marker)[0].rstrip() + "\n\n"
        benchmarks.write_text(kept + text)
        log("wrote tools/load/results.md and its section of BENCHMARKS.md")


if __name__ == "__main__":
    main()
