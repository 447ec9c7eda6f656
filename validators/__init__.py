"""Annotune validators: pure Python checks for prompt-response conversations (no Django imports).

Every check returns `Finding(code, severity, message, location, suggestion, evidence)`. `error` blocks
approval and dataset versions; `warning` and `info` inform. `REGISTRY` lists every code with its default
severity, title, description and whether an auto-fix exists (for the help page: `help_entries()`).

What the web side calls
-----------------------
Build once per project (cache it, rebuild when the format spec or knowledge source changes)::

    spec = ProjectSpec.from_dict(project.format_spec, knowledge_base=kb)   # kb optional, see below
    policy = Policy.from_dict(project.validation_policy)                  # parse_policy(...) checks a form
    kb = KnowledgeBase.build({doc.name: doc.text for doc in docs}, facts=[...])   # worker side

Editor (fast, every change)::

    findings = validate_example({"messages": [...], "category": "billing", "style_tags": [...]}, spec, policy)
    payload = [f.to_dict() for f in findings]          # JSON; Finding.from_dict() reads it back
    blocked = has_blocking(findings)                   # an error refuses submit / approve

One-click fixes::

    new_messages = apply_fixes(example)                          # every safe fix (SAFE_FIXES)
    new_messages = apply_fixes(example, "fmt.double_space")      # one code
    new_messages = apply_fixes(example, "pii.*", spec)           # explicit: redaction with [EMAIL]...

Storage: ``content_hash(messages)`` (same algorithm as the annotation app).

Worker (data health, dataset versions)::

    report = validate_dataset(examples, spec, policy, split={"id": "train" | "validation"},
                              per_example=True, fact_check=True)
    report.to_dict() / report.to_json(); report.blocking

Fact check on one example (worker, or editor on demand): ``validate_example(ex, spec, fact_check=True)``.
Embedding similarity is optional: ``KnowledgeBase.build(..., embedder=default_embedder())`` (loads
all-MiniLM-L6-v2 lazily; torch is only imported then).
"""

from validators.api import CHECKS, FAST_CHECKS, example_validator, validate_dataset, validate_example
from validators.dataset import (
    DatasetReport,
    DatasetThresholds,
    content_hash,
    duplicate_clusters,
    near_duplicate_pairs,
    normalised_text,
)
from validators.embeddings import SentenceEmbedder, default_embedder, embeddings_available
from validators.factcheck import FactCheck, claim_hash, extract_claims
from validators.findings import Finding, Location, Policy, Severity, has_blocking, sort_findings
from validators.fixes import EXPLICIT_FIXES, SAFE_FIXES, apply_fixes
from validators.formatting import StyleProfile, style_profile
from validators.inputs import ExampleInput, Message, ProjectSpec
from validators.knowledge import KnowledgeBase
from validators.registry import REGISTRY, CheckInfo, check_title, help_entries

__all__ = [
    "CHECKS",
    "EXPLICIT_FIXES",
    "FAST_CHECKS",
    "REGISTRY",
    "SAFE_FIXES",
    "CheckInfo",
    "DatasetReport",
    "DatasetThresholds",
    "ExampleInput",
    "FactCheck",
    "Finding",
    "KnowledgeBase",
    "Location",
    "Message",
    "Policy",
    "ProjectSpec",
    "SentenceEmbedder",
    "Severity",
    "StyleProfile",
    "apply_fixes",
    "check_title",
    "claim_hash",
    "content_hash",
    "default_embedder",
    "duplicate_clusters",
    "embeddings_available",
    "example_validator",
    "extract_claims",
    "has_blocking",
    "help_entries",
    "near_duplicate_pairs",
    "normalised_text",
    "sort_findings",
    "style_profile",
    "validate_dataset",
    "validate_example",
]
