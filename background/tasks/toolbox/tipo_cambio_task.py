"""toolbox.tipo_cambio: fetch USD/PEN buy/sell rates from the configured provider and upsert them."""

from background.processors.progress import Progress
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory
from services.factoring.params import DateFrom, DateTo
from services.factoring.rates import sync_rates


# Weekday mornings, once the day's USD/PEN rates are published.
@celery_app.task(name="toolbox.tipo_cambio", schedule="15 8 * * 1-5")
async def tipo_cambio(repositories: RepositoryFactory, progress: Progress,
                      date_from: DateFrom = None, date_to: DateTo = None) -> dict[str, object]:
    """Fetch USD/PEN exchange rates for a date range (default: the last 7 days) and upsert them.

    The provider is RATES_PROVIDER: `http` (a JSON API) or `csv` (RATES_CSV_PATH).
    """
    return await sync_rates(repositories, progress, date_from, date_to)
