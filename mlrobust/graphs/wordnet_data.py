"""Finding WordNet 3.0 for NLTK without a download.

Resolution order (first hit wins):

1. NLTK's own data path already holds the ``wordnet`` corpus
   (``python -m nltk.downloader wordnet`` puts it there).
2. A system WordNet 3.0 dictionary (Debian/Ubuntu ``wordnet-base`` + ``wordnet-sense-index``
   install it in ``/usr/share/wordnet``; override with ``MLROBUST_WORDNET_DIR`` or WordNet's own
   ``WNSEARCHDIR``). NLTK's reader only loads corpora from its data roots and wants a
   ``lexnames`` file that Debian does not ship, so the files are copied once into
   ``<cache>/corpora/wordnet/`` (``<cache>`` = ``MLROBUST_NLTK_DATA``, default
   ``~/.cache/mlrobust/nltk_data``) and ``lexnames`` is written beside them.
3. Otherwise :class:`~mlrobust.errors.DataNotFoundError` says how to install it either way.
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from mlrobust.errors import DataNotFoundError

logger = logging.getLogger(__name__)

CACHE_ENV = "MLROBUST_NLTK_DATA"
SYSTEM_ENV = "MLROBUST_WORDNET_DIR"
DEFAULT_SYSTEM_DIR = Path("/usr/share/wordnet")
LEXNAMES_MAN_PAGE = Path("/usr/share/man/man5/lexnames.5WN.gz")

# What NLTK's WordNetCorpusReader opens (index.sense is read by lemma-key lookups).
_NEEDED_FILES = (
    "data.noun",
    "data.verb",
    "data.adj",
    "data.adv",
    "index.noun",
    "index.verb",
    "index.adj",
    "index.adv",
    "noun.exc",
    "verb.exc",
    "adj.exc",
    "adv.exc",
    "index.sense",
)

# The 45 lexicographer files of WordNet 3.0 in file-number order (table in lexnames(5WN)).
# Used when the man page is not installed (slim container images drop /usr/share/man).
_LEXNAMES_WN30 = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)
_POS_CODE = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

INSTALL_HELP = (
    "WordNet 3.0 is not installed. Install it in one of two ways: "
    "(1) with internet access: `python -m nltk.downloader wordnet`; "
    "(2) on Debian/Ubuntu: `apt-get install wordnet-base wordnet-sense-index` "
    f"(or point {SYSTEM_ENV} at a WordNet 3.0 'dict' folder). "
    "The prebuilt graphs (mlrobust.graphs.load_prebuilt) need neither."
)


def cache_dir() -> Path:
    """The NLTK data root mlrobust prepares a system WordNet into."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mlrobust" / "nltk_data"


def system_wordnet_dir() -> Path:
    """Where a system WordNet 3.0 dictionary is looked for."""
    for env in (SYSTEM_ENV, "WNSEARCHDIR"):
        value = os.environ.get(env)
        if value:
            return Path(value).expanduser()
    return DEFAULT_SYSTEM_DIR


def lexnames_lines() -> list[str]:
    """The ``lexnames`` file content: ``NN<TAB>name<TAB>pos-code`` for the 45 files."""
    names = _lexnames_from_man_page() or list(_LEXNAMES_WN30)
    return [f"{i:02d}\t{name}\t{_POS_CODE[name.split('.')[0]]}" for i, name in enumerate(names)]


def _lexnames_from_man_page() -> list[str] | None:
    if not LEXNAMES_MAN_PAGE.exists():
        return None
    with gzip.open(LEXNAMES_MAN_PAGE, "rt", encoding="utf-8", errors="replace") as fh:
        rows = [re.match(r"^(\d\d)\t(\w+\.\w+)\s", line) for line in fh]
    names = [m.group(2) for m in rows if m]
    # Trust the page only if it is the WordNet 3.0 table we expect.
    return names if names == list(_LEXNAMES_WN30) else None


def _nltk_has_wordnet() -> Any | None:
    import nltk

    for resource in ("corpora/wordnet", "corpora/wordnet.zip/wordnet/"):
        try:
            return nltk.data.find(resource)
        except LookupError:
            continue
    return None


def prepare_system_wordnet(source: Path | None = None, target_root: Path | None = None) -> Path:
    """Copy a system WordNet 3.0 dictionary into an NLTK data root; return that root.

    Idempotent: a complete earlier copy (marked by ``lexnames``) is reused.
    """
    source = source or system_wordnet_dir()
    target_root = target_root or cache_dir()
    missing = [name for name in _NEEDED_FILES if not (source / name).is_file()]
    if missing:
        raise DataNotFoundError(
            f"System WordNet at {source} lacks {', '.join(missing)}. " + INSTALL_HELP
        )
    target = target_root / "corpora" / "wordnet"
    if (target / "lexnames").is_file():
        return target_root
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build in a temporary folder and rename, so a crash never leaves a half copy behind.
    tmp = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=target.parent))
    for name in _NEEDED_FILES:
        shutil.copyfile(source / name, tmp / name)
    (tmp / "lexnames").write_text("\n".join(lexnames_lines()) + "\n", encoding="utf-8")
    try:
        tmp.rename(target)
    except OSError:  # another process won the race: use its copy
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("Prepared WordNet from %s into %s", source, target)
    return target_root


def wordnet_available() -> bool:
    """True when :func:`load_wordnet` would succeed without raising."""
    if _nltk_has_wordnet() is not None:
        return True
    source = system_wordnet_dir()
    return all((source / name).is_file() for name in _NEEDED_FILES)


@functools.lru_cache(maxsize=1)
def load_wordnet() -> Any:
    """An NLTK ``WordNetCorpusReader`` over WordNet 3.0 (see the module docstring)."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = _nltk_has_wordnet()
    if root is None:
        if not system_wordnet_dir().is_dir():
            raise DataNotFoundError(INSTALL_HELP)
        data_root = str(prepare_system_wordnet())
        # NLTK only reads corpora under its registered data roots, so register ours.
        if data_root not in nltk.data.path:
            nltk.data.path.append(data_root)
        root = nltk.data.find("corpora/wordnet", paths=[data_root])
    with warnings.catch_warnings():
        # Without the Open Multilingual WordNet NLTK warns once; English is all we use.
        warnings.filterwarnings("ignore", message="The multilingual functions")
        return WordNetCorpusReader(root, None)
