"""`manage.py stack deploy|down` without loading Django's apps or a database
driver, which take most of a command's start-up: a worker, warm already, records
and queues the operation (tasks.queue_operation), and its steps come back as they
happen through Redis (broker.events). A command line as quick as docker-compose's.

Whatever this path cannot answer goes the usual way, through the Django command,
and nothing is lost or done twice: no worker answering within CLAIM_PATIENCE (the
command line takes its request back first, then carries the operation out itself),
Redis down, an operation no worker takes (`stack follow`), an option it does not
know or `--help` (Django's parser says it all)."""
import argparse
import datetime
import os
import socket
import sys
import time
import uuid

CLAIM_PATIENCE = 0.5  # seconds for a worker to answer, then to take the operation
ANSWER_PATIENCE = 30  # seconds for a worker that took the request to answer it
REQUEST_EXPIRES = 60  # seconds after which a worker discards a request nobody answered
TASK = "stacks.tasks.queue_operation"


class _NotHere(Exception):
    """An argument this path leaves to the Django command."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _NotHere(message)


def _parse(argv):
    parser = _Parser(add_help=False)
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("deploy", add_help=False)
    p.add_argument("slug")
    p.add_argument("--plan")
    p.add_argument("--wait", action="store_true")
    p = sub.add_parser("down", add_help=False)
    p.add_argument("slug")
    p.add_argument("--volumes", action="store_true")
    p.add_argument("--detach", "-d", action="store_true")
    p.add_argument("--wait", action="store_true")
    try:
        return parser.parse_args(argv)
    except _NotHere:
        return None


def main(argv):
    """Exit code of `manage.py stack …` (argv: sys.argv), or None to go the Django way."""
    if argv[1:2] != ["stack"] or argv[2:3] not in (["deploy"], ["down"]):
        return None
    args = _parse(argv[2:])
    if args is None or args.slug.startswith("-"):
        return None
    if args.verb == "deploy":
        return Request(args.slug, "deploy", {"plan": args.plan} if args.plan else {}, args.wait).run()
    return Request(args.slug, "down", {"volumes": args.volumes}, not args.detach).run()


class Request:
    def __init__(self, slug, action, options, wait):
        self.slug, self.action, self.options, self.wait = slug, action, options, wait

    def run(self):
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlpanel.settings")
        from django.conf import settings  # the settings module alone: no apps, no database

        from stacks.seams import broker  # start-up: only once the settings module is chosen

        if settings.CELERY_TASK_ALWAYS_EAGER:
            return None  # no worker by design: the Django command runs it in-process
        try:
            answer = broker.ask_a_worker(
                lambda request_id: self.publish(settings.CELERY_BROKER_URL, settings.CELERY_TASK_DEFAULT_QUEUE,
                                                request_id), CLAIM_PATIENCE, ANSWER_PATIENCE)
        except broker.BrokerError:
            return None  # Redis is unreachable: the Django command says so in its own terms
        if answer is None:
            return None  # no worker: the Django command queues it and carries it out here
        if "error" in answer:
            return _fail(answer["error"])
        operation = answer["operation"]
        print(f"{self.action} of {self.slug} queued as operation #{operation}.", flush=True)
        return self.follow(int(operation), answer["events"]) if self.wait else 0

    def publish(self, broker_url, queue, request_id):
        """The request as a Celery task message (protocol 2, JSON), sent with kombu."""
        from kombu import Connection

        task_id, args = str(uuid.uuid4()), [self.slug, self.action, self.options, request_id]
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=REQUEST_EXPIRES)
        with Connection(broker_url, connect_timeout=2) as conn:
            conn.Producer().publish(
                [args, {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}],
                exchange="", routing_key=queue, serializer="json", delivery_mode=2, retry=False,
                correlation_id=task_id,
                headers={"lang": "py", "task": TASK, "id": task_id, "root_id": task_id, "parent_id": None,
                         "group": None, "retries": 0, "eta": None, "expires": expires.isoformat(),
                         "timelimit": [None, None], "argsrepr": repr(args), "kwargsrepr": "{}",
                         "origin": f"{os.getpid()}@{socket.gethostname()}"})

    def follow(self, operation, stream):
        """Its steps as they come, until it ends. Not taken by a worker within
        CLAIM_PATIENCE (its engine's may be down), or Redis gone: `stack follow`."""
        from stacks.seams import broker  # start-up: only once the settings module is chosen

        last, claimed, deadline = "0", False, time.monotonic() + CLAIM_PATIENCE
        try:
            while True:
                wait = 4 if claimed else deadline - time.monotonic()
                if wait <= 0:
                    return _django_follow(operation)
                for last, event in broker.events(stream, last, wait):
                    if "message" in event:
                        print(f"  {event['at']} {event['message']}", flush=True)
                    status = event.get("status")
                    claimed = claimed or status is not None
                    if status == "succeeded":
                        print(f"{self.action} of {self.slug} succeeded.")
                        return 0
                    if status == "failed":
                        return _fail(f"{self.action} of {self.slug} failed: {event.get('error', '')}")
        except broker.BrokerError:
            return _django_follow(operation)


def _fail(message):
    """As Django prints a CommandError."""
    print(f"CommandError: {message}", file=sys.stderr)
    return 1


def _django_follow(operation):
    from django.core.management import execute_from_command_line

    execute_from_command_line([sys.argv[0], "stack", "follow", str(operation)])
    return 0
