"""`binaural schedule`: a Prefect deployment that remasters what is new, on a cron.

The deployment runs the ordinary remaster flow; the manifest in DEST makes each run
process only what it does not hold yet. Serving needs a Prefect server (the ephemeral
API cannot fire schedules):

    .venv/bin/prefect server start --host 127.0.0.1 --port 4200 &
    export PREFECT_API_URL=http://127.0.0.1:4200/api
    .venv/bin/binaural schedule s3://archive/incoming s3://archive/binaural --cron "0 3 * * *"

The command serves the deployment in the foreground (`flow.serve`-style runner, flow
runs in subprocesses); stop it with Ctrl-C. With a work pool instead, pass
`--work-pool NAME` to register the deployment and start a worker for that pool.
"""

from __future__ import annotations

import argparse
import os
import sys


def build_deployment(src: str, dest: str, cron: str, name: str, params_file: str | None,
                     ray_address: str | None):
    from flows.remaster import remaster

    return remaster.to_deployment(
        name=name,
        cron=cron,
        parameters={"src": src, "dest": dest, "params_file": params_file,
                    "ray_address": ray_address},
        description=f"remaster what is new in {src} into {dest}",
        tags=["binaural", "scheduled"],
        concurrency_limit=1,  # a slow night does not stack runs; the manifest dedups anyway
    )


def cmd_schedule(args: argparse.Namespace) -> int:
    if not os.environ.get("PREFECT_API_URL"):
        print("binaural schedule: a schedule needs a Prefect server. Start one with\n"
              "  .venv/bin/prefect server start --host 127.0.0.1 --port 4200\n"
              "and set PREFECT_API_URL=http://127.0.0.1:4200/api", file=sys.stderr)
        return 2
    from prefect import serve

    deployment = build_deployment(args.src, args.dest, args.cron, args.name,
                                  getattr(args, "params", None), args.ray_address)
    if args.work_pool:
        deployment_id = deployment.apply(work_pool_name=args.work_pool)
        print(f"deployment {args.name} ({deployment_id}) registered on work pool "
              f"{args.work_pool}; start a worker: prefect worker start --pool {args.work_pool}")
        return 0
    serve(deployment, limit=1)
    return 0


def add_schedule_parser(sub) -> None:
    """Register `binaural schedule` on the CLI's subparsers."""
    p = sub.add_parser("schedule", help="serve a cron deployment that remasters what is new")
    p.add_argument("src")
    p.add_argument("dest")
    p.add_argument("--cron", required=True, help='cron expression, e.g. "0 3 * * *"')
    p.add_argument("--name", default="nightly")
    p.add_argument("--ray-address", default=None)
    p.add_argument("--work-pool", default=None,
                   help="register on this work pool instead of serving in the foreground")
    p.set_defaults(func=cmd_schedule)
