"""The SQS event source of the detector: batches of ``sqs_batch_size``, up to ``detector_concurrency`` at
once, each in its own thread; the partial batch response deletes the successes and hands the failures back
(after ``retry_delay_s`` here: AWS waits out the visibility timeout)."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError

from labkit.local.events import sqs_event
from labkit.local.runtime.invoke import RuntimeBase, chunks, json_log, log


class QueueSource(RuntimeBase):
    def _sqs_loop(self) -> None:
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=self.poll_interval_s):
                continue  # every slot busy: no receive (Lambda's poller does not take what it cannot run)
            dispatched = False
            try:
                dispatched = worked = self._dispatch_batch()
            except ClientError as exc:
                log.error(json_log("sqs_poll_error", error=str(exc)))
                worked = False
            finally:
                if not dispatched:
                    self._slots.release()
            if not worked:
                self._stop.wait(self.poll_interval_s)

    def _dispatch_batch(self) -> bool:
        """Receive a batch and invoke the detector with it in a thread of its own (which frees the slot)."""
        with self._lock:
            self._in_flight += 1  # a received message is work in flight until deleted or released
        handed_over = False
        try:
            messages = self._receive()
            if not messages:
                return False
            thread = threading.Thread(
                target=self._batch_thread, args=(messages,), name="lambda-detector", daemon=True
            )
            with self._lock:
                self._batches = [t for t in self._batches if t.is_alive()] + [thread]
            thread.start()
            handed_over = True
            return True
        finally:
            if not handed_over:
                with self._lock:
                    self._in_flight -= 1
                self._touch()

    def _batch_thread(self, messages: list[dict[str, Any]]) -> None:
        try:
            self._run_batch(messages)
        except ClientError as exc:
            log.error(json_log("sqs_batch_error", error=str(exc)))
        finally:
            self._slots.release()
            with self._lock:
                self._in_flight -= 1
            self._touch()

    def poll_queue(self) -> bool:
        """One receive -> invoke -> delete round in this thread; returns whether there were messages."""
        with self._lock:
            self._in_flight += 1  # a received message is work in flight until deleted or released
        try:
            messages = self._receive()
            if not messages:
                return False
            self._run_batch(messages)
            return True
        finally:
            with self._lock:
                self._in_flight -= 1
            self._touch()

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.config.sqs_batch_size, 10),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return messages

    def _run_batch(self, messages: list[dict[str, Any]]) -> None:
        """Invoke the detector with one received batch, then delete its successes and release its failures."""
        self._touch()
        if self._stop.is_set():  # stopping: hand the messages back untouched
            self._change_visibility(messages, 0)
            return
        event = sqs_event(messages, self.queue_arn, self.config.region)
        outcome = self._invoke("detector", event, item_ids=[m["MessageId"] for m in messages])
        failed = outcome.failed or set()
        self._delete([m for m in messages if m["MessageId"] not in failed])
        # local speed-up: AWS waits out the visibility timeout (minutes); come back after retry_delay_s
        self._change_visibility([m for m in messages if m["MessageId"] in failed], round(self.retry_delay_s))

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for chunk in chunks(messages, 10):
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
            answer = self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            for failure in answer.get("Failed", []):
                log.error(json_log("sqs_delete_failed", **failure))

    def _change_visibility(self, messages: list[dict[str, Any]], seconds: int) -> None:
        for chunk in chunks(messages, 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
                for i, m in enumerate(chunk)
            ]
            self._sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)

    def _queue_arn(self, url: str) -> str:
        attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        return str(attributes["QueueArn"])

    def _queue_empty(self) -> bool:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return all(int(value) == 0 for value in attributes.values())
