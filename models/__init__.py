"""ORM models. Every model module is imported here so Alembic sees the whole metadata."""

from models.audit_event import AuditEvent
from models.base import Base
from models.etl import EtlBatch, EtlReject
from models.exchange_rates import ExchangeRate
from models.notification_delivery import NotificationDelivery
from models.operations import Operation, Payment
from models.parties import Client, Debtor
from models.receivables import Receivable, ReceivableByClient, ReceivableByDebtor
from models.reporting import KpiDaily, KpiMonthly, ReportOperation
from models.task_run import TaskRun

__all__ = ["AuditEvent", "Base", "Client", "Debtor", "EtlBatch", "EtlReject", "ExchangeRate", "KpiDaily", "KpiMonthly",
           "NotificationDelivery", "Operation", "Payment", "Receivable", "ReceivableByClient", "ReceivableByDebtor",
           "ReportOperation", "TaskRun"]
