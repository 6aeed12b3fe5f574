"""engine.approval: the confirmation rule of `up`, `promote`, `destroy` and the db commands,
behind a prompt the caller supplies; here a fake one that records what it was shown."""

from __future__ import annotations

import pytest

from floyo_scale.engine.approval import Approval, approval
from floyo_scale.errors import GuardrailError


class Person:
    """Answers each question with the next of `answers` (None: end of input)."""

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []
        self.shown: list[str] = []

    def prompt(self, text: str) -> str | None:
        self.asked.append(text)
        return self.answers.pop(0)

    def show(self, text: str) -> None:
        self.shown.append(text)


def test_staging_goes_on_without_asking_and_still_shows_the_change():
    asked = approval("staging", "changing", yes=False, is_tty=False, is_ci=True)
    person = Person()
    approve = asked.approver(
        lambda review: f"review of {review}\n", "Apply?", person.prompt, person.show
    )
    assert approve("r1") is True
    assert person.shown == ["review of r1\n"] and person.asked == []


@pytest.mark.parametrize(
    ("is_tty", "is_ci", "where"), [(False, False, "without a terminal"), (True, True, "in CI")]
)
def test_production_without_yes_is_refused_before_anything_runs(is_tty, is_ci, where):
    with pytest.raises(
        GuardrailError, match=f"changing stack production needs confirmation.*{where}"
    ):
        approval("production", "changing", yes=False, is_tty=is_tty, is_ci=is_ci)


def test_yes_goes_on_even_in_ci():
    assert approval("production", "changing", yes=True, is_tty=False, is_ci=True) == Approval(
        "production", "changing", ask=False
    )


@pytest.mark.parametrize(
    ("answer", "granted"),
    [("production", True), (" production \n", True), ("yes", False), ("", False), (None, False)],
)
def test_a_terminal_is_asked_for_the_stack_name(answer, granted):
    asked = approval("production", "changing", yes=False, is_tty=True, is_ci=False)
    person = Person(answer)
    approve = asked.approver(
        lambda review: "3 to update\n", "Apply these changes?", person.prompt, person.show
    )
    assert approve(object()) is granted
    # the change, then the question, in one text: nothing is shown apart from the prompt
    assert person.asked == [
        "3 to update\nApply these changes? Type the stack's name (production) to go on: "
    ]
    assert person.shown == []


def test_each_review_is_asked_again():
    """deploy runs the whole review again after waiting for a lock: asked each time."""
    asked = approval("production", "changing", yes=False, is_tty=True, is_ci=False)
    person = Person("production", "no")
    approve = asked.approver(str, "Apply?", person.prompt, person.show)
    assert approve(1) is True and approve(2) is False
    assert len(person.asked) == 2


def test_always_asks_for_any_stack():
    """destroy, and dropping indexes, ask whatever the stack."""
    asked = approval("dev", "destroying", yes=False, is_tty=True, is_ci=False, always=True)
    assert asked.ask
    with pytest.raises(GuardrailError, match="destroying stack dev needs confirmation"):
        approval("dev", "destroying", yes=False, is_tty=False, is_ci=False, always=True)


def test_require_raises_unless_confirmed():
    asked = approval("production", "switching the database of", yes=False, is_tty=True, is_ci=False)
    person = Person("staging")
    with pytest.raises(
        GuardrailError, match="switching the database of stack production was not confirmed"
    ):
        asked.require(person.prompt)
    assert person.asked == [
        "switching the database of stack production. Type the stack's name (production) to go on: "
    ]
    asked.require(Person("production").prompt)  # confirmed: nothing raised
