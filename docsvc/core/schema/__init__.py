"""Field schemas of the Word templates: each ``templates/<slug>/schema.json`` declares the form
fields its ``template.docx`` uses. The format is specified in docs/template-schema.md.

- :mod:`~docsvc.core.schema.model`: the values (fields, the schema, what a check returns).
- :mod:`~docsvc.core.schema.load`: reading ``schema.json`` into them.
- :mod:`~docsvc.core.schema.validate`: form data into a clean render context, its problems
  reported as :mod:`~docsvc.core.schema.problems` says.
- :mod:`~docsvc.core.schema.rules`: the business checks across fields (``checks``).
- :mod:`~docsvc.core.schema.draft`: a first schema drafted from a template's tags.

The Chinese ways of writing dates and amounts are in :mod:`docsvc.core.zhformat`.
"""

from docsvc.core.schema.load import list_shipped, load_schema
from docsvc.core.schema.model import (
    CURRENCIES,
    Check,
    Checked,
    DefaultUsed,
    Field,
    Finding,
    GeneratedDocuments,
    ListSum,
    Pattern,
    TemplateSchema,
)
from docsvc.core.schema.rules import RULES

__all__ = [
    "CURRENCIES",
    "Check",
    "Checked",
    "DefaultUsed",
    "Field",
    "Finding",
    "GeneratedDocuments",
    "ListSum",
    "Pattern",
    "RULES",
    "TemplateSchema",
    "list_shipped",
    "load_schema",
]
