"""The options every profile command shares: --runtime, --arch, --kernel, --caps."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from .._files import FileRefused
from ..profiles import ProfileError, Translation, load, translate
from ..profiles.runtimes import ALL_CAPS, DEFAULT_CAPS, parse_runtime
from ..syscalls import Arch, arch, kernel_version, native_arch, parse_version
from .output import UsageError


def add_profile_args(p: argparse.ArgumentParser, profile: str = "positional",
                     arch_help: str = "the ABI whose verdicts to explain") -> None:
    """The options that shape a translation, and PROFILE: ``"positional"`` (explain),
    ``"option"`` (``run --profile``) or ``"none"`` (the command names its own)."""
    if profile == "positional":
        p.add_argument("profile", metavar="PROFILE",
                       help="OCI or Docker seccomp JSON, or an OCI config.json")
    if profile == "option":
        p.add_argument("--profile", metavar="PROFILE", help="install what a container runtime "
                       "installs for this OCI or Docker seccomp JSON (or OCI config.json)")
    else:
        p.add_argument("--arch", metavar="A", help=f"{arch_help}, as the runtime installs the "
                       "filter on a host of that ABI (default: this machine's)")
    p.add_argument("--runtime", metavar="R", help="NAME:VERSION[+NAME:VERSION] with NAME in "
                   "docker, podman, containerd, runc, crun (default: current runc)")
    add_libseccomp_arg(p)
    p.add_argument("--kernel", metavar="X.Y",
                   help="host kernel for minKernel conditions (default: the running one)")
    p.add_argument("--caps", default="default", metavar="default|all|LIST",
                   help="capabilities for includes/excludes (default: the engine's set)")


def add_libseccomp_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--libseccomp", metavar="VERSION|host",
                   help="the libseccomp the runtime links, where not its release's own: a "
                        "version (2.5.4), or host, this machine's libseccomp.so.2 (as "
                        "distribution packages link it)")


def caps_option(text: str, engine: str | None) -> tuple[str, ...]:
    if text == "default":
        return DEFAULT_CAPS.get(engine or "docker", DEFAULT_CAPS["docker"])
    if text == "all":
        return ALL_CAPS
    caps = []
    for item in text.split(","):
        name = item.strip().upper()
        if not name:
            continue
        name = name if name.startswith("CAP_") else f"CAP_{name}"
        if name not in ALL_CAPS:
            raise UsageError(f"unknown capability {item.strip()!r}")
        caps.append(name)
    return tuple(caps)


@contextmanager
def usage_errors(path: str) -> Iterator[None]:
    """Bad input as one usage line: the profile's JSON path, the OS error, or the
    bad option value."""
    try:
        yield
    except ProfileError as exc:
        raise UsageError(f"{path}: {exc}") from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    except FileRefused as exc:
        raise UsageError(f"{path}: {exc}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def target_options(args: argparse.Namespace) -> tuple[Arch, tuple[int, int]]:
    """The ABI (``--arch``, default this one) and host kernel (``--kernel``)."""
    with usage_errors(""):
        abi = arch(args.arch) if getattr(args, "arch", None) else native_arch()
        return abi, parse_version(args.kernel) if args.kernel else kernel_version()


def translated(args: argparse.Namespace, path: str | None = None,
               runtime_text: str | None = None) -> tuple[Translation, Arch]:
    """Load, validate and translate *path* (default ``args.profile``) as *runtime_text*
    (default ``args.runtime``) would; usage errors for bad input."""
    path = path or args.profile
    abi, kernel = target_options(args)
    with usage_errors(path):
        runtime = parse_runtime(runtime_text or args.runtime, args.libseccomp)
        caps = caps_option(args.caps, runtime.engine)
        return translate(load(path), runtime, target=abi, kernel=kernel, caps=caps), abi
