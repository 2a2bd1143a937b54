"""The peer-support service directory: records, files, storage, and the operators' CLI."""
from bot.directory.records import ImportFailed, RecordError, ServiceRecord  # noqa: F401
from bot import DATA_DIR

SEED_FILE = DATA_DIR / "directory" / "services.yml"
