"""Telling a person's linked accounts that their colour changed, from the durable queue.

`flask --app app worker` runs NotificationService.deliver(): each queued change goes to every
account linked to the person whose face check passed on its link, through that account's
platform (WeChat subscribe messages, Alipay template messages). A crash loses nothing: an event
is finished (`done`) only once every account has it, and another worker takes over what a dead
one left. Each account's send is noted, so a retry sends no duplicate; only a crash between a
platform's answer and that note can make one.
"""
from __future__ import annotations

from collections.abc import Sequence

from core.color import ColorRecorder
from core.directory import PersonDirectory
from core.errors import PlatformUnavailable
from core.identity import mask_name
from core.model import ColorChanged
from core.persons import live_link
from core.platforms import ColorNotice
from core.ports import AccountLinks, HistoryLog, Notifier, Outbox


class NotificationService:
    def __init__(self, outbox: Outbox, directory: PersonDirectory, links: AccountLinks, history: HistoryLog,
                 notifiers: Sequence[Notifier], colors: ColorRecorder) -> None:
        self._outbox = outbox
        self._directory = directory
        self._links = links
        self._history = history
        self._notifiers = tuple(notifiers)
        self._colors = colors

    def deliver(self, consumer: str, count: int = 50, block_ms: int = 5_000) -> int:
        """Send one batch of queued changes; how many events were finished. An event whose
        platform is unavailable stays queued for the next try."""
        finished = 0
        for event_id, event in self._outbox.take(consumer, count, block_ms):
            try:
                self._deliver(event_id, event)
            except PlatformUnavailable:
                continue  # left unfinished: taken again later, the accounts already told skipped
            self._outbox.done(event_id)
            finished += 1
        return finished

    def _deliver(self, event_id: str, event: ColorChanged) -> None:
        record = self._directory.persons.get(event.person_id)
        name = self._directory.name(record) if record is not None else None
        if record is None or name is None or not self._recorded(event):
            return  # erased since, or a change that never made it into the history
        reason = self._colors.policy.reason_text(event.reason_codes[0], "zh") if event.reason_codes else ""
        notice = ColorNotice(event.person_id, mask_name(name), event.to_color, event.at, reason)
        for account_id in record.accounts:
            link = self._links.links(account_id).get(event.person_id)
            if link is None or not link.verified or not live_link(link, record, account_id):
                continue  # only a link whose face check passed is told about the person
            if self._outbox.was_sent(event_id, account_id):
                continue
            if any(notifier.notify(account_id, notice) for notifier in self._notifiers):
                self._outbox.mark_sent(event_id, account_id)

    def _recorded(self, event: ColorChanged) -> bool:
        changes, _ = self._history.history(event.person_id, event.at)
        return any(c.at == event.at and c.to_color == event.to_color for c in changes)
