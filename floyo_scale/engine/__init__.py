"""The Pulumi engine, driven through the Automation API: the only package that imports
`pulumi.automation` (see docs/engine.md).

Owns: the Target a command runs against (target), the Pulumi CLI and plugins (install),
signals (signals), stack locks and the stale-lock policy (locks), Automation API errors
(failures), engine events (events), results (results), an opened stack (session), `up` and
`destroy` with their guards and what `up` checks offline (deploy), who says yes before a
change (approval), what an update runs (release: commit, spec digest, version) and
`promote` (promote), every prerequisite
checked at once before the engine runs (prerequisites: `doctor`), and the AWS checks
among them (aws_preflight).

May import: pulumi.automation, errors, spec, infra, offline, cost, guards, policy,
progress. Never render or cli: it never prints; progress goes to a sink
(progress.Reporter), results are returned, failures raised as FloyoError subclasses with
the exit codes of errors.ExitCode.

It runs the ONE program (`floyo_scale.infra.program`, the function `plan` synthesizes) as an
inline program on the Pulumi stack named after the stack file, in a self-managed backend
(`file://<root>/.floyo/state` unless PULUMI_BACKEND_URL says otherwise).

Three things the Automation API does not do for us, done here:
- signals: `pulumi` runs in its own session; SIGINT/SIGTERM/SIGHUP reach floyo-scale only,
  which passes one SIGINT on (Pulumi's graceful cancel: in-flight operations finish, the lock
  is released), escalates after a grace period, and says how to recover (pulumi/pulumi#9103);
- locks: a locked stack is exit 5 naming the holder; `lock_timeout` waits and retries;
- secrets: values come from the environment variables the stack file names, reach the
  program in-process, and are redacted from every message shown.
"""

from .approval import Approval, approval
from .deploy import (
    DestroyReport,
    OfflineReview,
    check_budget,
    check_offline,
    deploy,
    destroy,
    drift,
    drift_error,
    estimate,
    release_lock,
    review_offline,
    review_up,
)
from .failures import SETUP_HINT, translate_error
from .install import (
    CLI_VERSION,
    MIN_CLI_VERSION,
    Plugin,
    PulumiCLI,
    SetupReport,
    cli_root,
    data_dir,
    find_cli,
    provider_packages,
    required_plugins,
    setup,
)
from .locks import LockHolder, check_stale, parse_lock_holders, read_lock_files
from .prerequisites import prepare
from .promote import PromoteReport, check_same, check_source, last_release, promote
from .release import Release
from .release import current as current_release
from .results import Drift, DriftReport, Output, PreviewReport, Review, UpReport
from .session import Session, open_session
from .signals import CHILDREN, GRACE_SECONDS, KILL_SECONDS, SignalForwarder, SignalReport, run_child
from .target import (
    PASSPHRASE_VARS,
    STATE_DIR,
    WORK_DIR,
    Target,
    default_backend,
    secret_refs,
    secrets_provider,
    stack_secrets,
)

__all__ = [
    "Approval",
    "approval",
    "CHILDREN",
    "CLI_VERSION",
    "GRACE_SECONDS",
    "KILL_SECONDS",
    "MIN_CLI_VERSION",
    "PASSPHRASE_VARS",
    "SETUP_HINT",
    "STATE_DIR",
    "WORK_DIR",
    "Drift",
    "DriftReport",
    "LockHolder",
    "Output",
    "Plugin",
    "PromoteReport",
    "PreviewReport",
    "PulumiCLI",
    "Release",
    "Review",
    "Session",
    "SetupReport",
    "SignalForwarder",
    "SignalReport",
    "Target",
    "UpReport",
    "check_budget",
    "check_offline",
    "OfflineReview",
    "review_offline",
    "cli_root",
    "current_release",
    "data_dir",
    "default_backend",
    "deploy",
    "DestroyReport",
    "check_same",
    "check_source",
    "check_stale",
    "destroy",
    "drift_error",
    "drift",
    "estimate",
    "find_cli",
    "last_release",
    "open_session",
    "parse_lock_holders",
    "prepare",
    "provider_packages",
    "promote",
    "read_lock_files",
    "release_lock",
    "required_plugins",
    "review_up",
    "run_child",
    "secret_refs",
    "secrets_provider",
    "setup",
    "stack_secrets",
    "translate_error",
]
