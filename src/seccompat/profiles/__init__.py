"""OCI and Docker seccomp profiles: parse and validate (:mod:`.model`), translate
as a given runtime would (:mod:`.runtimes`), and explain the result (:mod:`.explain`)."""

from __future__ import annotations

from .conversion import Translation, translate
from .explain import Branch, Explanation, Reason, describe, explain
from .model import Profile, ProfileError, load, parse
from .runtimes import Runtime, parse_runtime

__all__ = ["Branch", "Explanation", "Profile", "ProfileError", "Reason", "Runtime", "Translation",
           "describe", "explain", "load", "parse", "parse_runtime", "translate"]
