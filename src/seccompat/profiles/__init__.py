"""OCI and Docker seccomp profiles: parse and validate (:mod:`.model`), translate
as a given runtime would (:mod:`.runtimes`), and explain the result (:mod:`.explain`)."""

from __future__ import annotations

from .explain import Branch, Explanation, Reason, describe, explain
from .model import Profile, ProfileError, load, parse
from .runtimes import Runtime, Translation, parse_runtime, translate

__all__ = ["Branch", "Explanation", "Profile", "ProfileError", "Reason", "Runtime", "Translation",
           "describe", "explain", "load", "parse", "parse_runtime", "translate"]
