"""What the RUN rules share, as syft's generic cataloger is what its catalogers share.

A RUN is read into simple commands (drift.dockerfile.shell), its shell
heredocs and `sh -c` scripts included; prefixes that only run another command
(`sudo`, `env A=1`, `timeout 60`, `python -m pip`) are taken off, so that a
rule module sees `pip install ...` however it was invoked. `options` splits a
command's arguments getopt-style, with the value-taking options each module
names.
"""

from __future__ import annotations

import os.path
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from drift.dockerfile.model import Dockerfile, Instruction, Stage, exec_form
from drift.dockerfile.rules.interface import RiskSite, Rule
from drift.dockerfile.shell import SHELLS, Command, ShellWord, scan

URL = re.compile(r"^(https?|ftp)://", re.IGNORECASE)
# A commit named by (a prefix of) its hex id.
HEX_REF = re.compile(r"^[0-9a-fA-F]{7,40}$")


@dataclass
class SimpleCommand:
    """A simple command with its prefixes (assignments, sudo, env...) taken off."""

    program: str  # basename of the program
    args: list[ShellWord]
    words: list[ShellWord]  # program word first
    assignments: dict[str, str]
    command: Command


def option_names(text: str) -> frozenset[str]:
    """A set of option or keyword names written as one whitespace-separated block."""
    return frozenset(text.split())


PREFIX_KEYWORDS = option_names(
    """
    ! { } ( then do else elif if while until time exec command nohup builtin
    """
)
_SKIP_KEYWORDS = frozenset({"for", "case", "select", "function", "fi", "done", "esac"})
_WRAPPER_OPTIONS: dict[str, frozenset[str]] = {
    "sudo": frozenset("ugCDhprtUT"),
    "env": frozenset("uSC"),
    "nice": frozenset("n"),
    "timeout": frozenset("sk"),
    "xargs": frozenset("nILPdEsa"),
    "stdbuf": frozenset("ioe"),
    "retry": frozenset("tdm"),
}


class Run:
    """One RUN instruction read into simple commands: its command and its shell heredocs."""

    def __init__(self, dockerfile: Dockerfile, stage: Stage, instruction: Instruction):
        self.dockerfile = dockerfile
        self.stage = stage
        self.instruction = instruction
        self.simples: list[SimpleCommand] = [simple for command in self._commands() for simple in self._simple(command)]

    def _commands(self) -> list[Command]:
        instruction = self.instruction
        arguments = exec_form(instruction.value)
        if arguments is not None:
            # No shell reads an exec-form RUN: no variable is expanded, no word can be edited in place.
            at = instruction.value_offsets[0] if instruction.value_offsets else 0
            return [Command([ShellWord(argument, "", None, at) for argument in arguments], [], "", "", None)]
        commands = scan(instruction.value, instruction.variables, instruction.source_span, 0)
        for heredoc in instruction.heredocs:
            if not self._is_shell_heredoc(commands, heredoc.delimiter, heredoc.body):
                continue
            start = heredoc.span[0]
            source = instruction.text[heredoc.span[0] : heredoc.span[1]]
            variables = {} if heredoc.quoted else instruction.variables

            def body_span(begin: int, end: int, start: int = start) -> tuple[int, int]:
                return start + begin, start + end

            commands.extend(scan(source, variables, body_span, start))
        return commands

    @staticmethod
    def _is_shell_heredoc(commands: list[Command], delimiter: str, body: str) -> bool:
        shebang = body.split("\n", 1)[0]
        if shebang.startswith("#!"):
            interpreter = shebang[2:].split() or ["sh"]
            if os.path.basename(interpreter[0]) == "env" and len(interpreter) > 1:
                interpreter = interpreter[1:]  # "#!/usr/bin/env python3"
            if os.path.basename(interpreter[0]) not in SHELLS:
                return False
        for command in commands:
            for operator, target in command.redirects:
                if operator in ("<<", "<<-") and target.text == delimiter:
                    if not command.words:
                        return True  # `RUN <<EOF`: the body is the script
                    return os.path.basename(command.words[0].text) in SHELLS
        return True

    def _simple(self, command: Command, depth: int = 0) -> Iterator[SimpleCommand]:
        words = list(command.words)
        assignments: dict[str, str] = {}
        i = 0
        while i < len(words):
            text = words[i].text
            assignment = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", text, re.DOTALL)
            if assignment is not None:
                assignments[assignment.group(1)] = assignment.group(2)
                i += 1
                continue
            if text in PREFIX_KEYWORDS:
                i += 1
                continue
            if text in _SKIP_KEYWORDS:
                return
            program = os.path.basename(text)
            if program in _WRAPPER_OPTIONS:
                i = _skip_wrapper(words, i + 1, _WRAPPER_OPTIONS[program], program)
                continue
            break
        if i >= len(words):
            return
        program = os.path.basename(words[i].text)
        args = words[i + 1 :]
        if re.fullmatch(r"python[0-9.]*", program):
            module = next((index for index, word in enumerate(args[:-1]) if word.text == "-m"), None)
            if module is None or not re.fullmatch(r"pip[0-9.]*", args[module + 1].text):
                return
            program, args = "pip", args[module + 2 :]
        script = _shell_script(program, args)
        if script is not None and depth < 3:
            if script.resolved:
                # `sh -c "..."`: the script's words have no place of their own in the text.
                nested = scan(script.text, self.instruction.variables, None, script.at)
                for inner in nested:
                    yield from self._simple(inner, depth + 1)
            return
        yield SimpleCommand(program, args, words[i:], assignments, command)

    def site(
        self,
        rule: Rule,
        subject: str,
        word: ShellWord,
        ecosystem: str,
        name: str,
        simple: SimpleCommand,
        command_end: int | None = None,
        output: str | None = None,
    ) -> RiskSite:
        """A risk found in this RUN at `word`."""
        return rule.site(
            self.stage,
            self.instruction,
            subject,
            self.instruction.line_of(word.at),
            ecosystem,
            name,
            word=word,
            command=tuple(simple.words),
            command_end=command_end,
            output=output,
        )

    def scope(self, name: str, simple: SimpleCommand) -> str | None:
        """A variable's value for the command: its own prefix assignments, then ARG/ENV."""
        if name in simple.assignments:
            return simple.assignments[name]
        value = self.instruction.variables.get(name)
        return value


def command_key(program: str) -> str:
    """The name a rule module registers a program under: "pip3.11" is "pip"."""
    if re.fullmatch(r"pip[0-9.]*", program):
        return "pip"
    return program


def _skip_wrapper(words: list[ShellWord], i: int, with_value: frozenset[str], program: str) -> int:
    while i < len(words):
        text = words[i].text
        if program == "env" and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", text):
            i += 1
            continue
        if text == "--":
            return i + 1
        if text.startswith("-") and len(text) > 1:
            takes_value = not text.startswith("--") and text[-1] in with_value
            i += 2 if takes_value else 1
            continue
        if program in ("timeout", "nice") and re.fullmatch(r"[0-9.]+[smhd]?", text):
            i += 1
            continue
        return i
    return i


def _shell_script(program: str, args: list[ShellWord]) -> ShellWord | None:
    """The script word of `sh -c SCRIPT` / `bash -lc SCRIPT`, or None."""
    if program not in SHELLS:
        return None
    for index, word in enumerate(args):
        if word.text.startswith("-") and not word.text.startswith("--") and "c" in word.text[1:]:
            return args[index + 1] if index + 1 < len(args) else None
        if not word.text.startswith("-"):
            return None
    return None


def split_options(
    args: Sequence[ShellWord], short: str = "", long: frozenset[str] = frozenset()
) -> tuple[list[tuple[str, ShellWord | None]], list[ShellWord]]:
    """getopt-style split: (option name, value word) pairs and operands.

    `short` lists the one-letter options that take a value ("-o VALUE",
    "-oVALUE", bundled "-qO-"); `long` the long ones ("--name VALUE" or
    "--name=VALUE"). Everything after "--" is an operand.
    """
    options: list[tuple[str, ShellWord | None]] = []
    operands: list[ShellWord] = []
    i = 0
    while i < len(args):
        word = args[i]
        text = word.text
        if text == "--":
            operands.extend(args[i + 1 :])
            break
        if text.startswith("--") and len(text) > 2:
            name, has_value, value = text[2:].partition("=")
            if has_value:
                options.append((name, ShellWord(value, "", None, word.at, word.resolved)))
            elif name in long and i + 1 < len(args):
                options.append((name, args[i + 1]))
                i += 1
            else:
                options.append((name, None))
        elif text.startswith("-") and len(text) > 1 and not text[1].isdigit():
            for position in range(1, len(text)):
                letter = text[position]
                if letter in short:
                    rest = text[position + 1 :]
                    if rest:
                        options.append((letter, ShellWord(rest, "", None, word.at, word.resolved)))
                    elif i + 1 < len(args):
                        options.append((letter, args[i + 1]))
                        i += 1
                    else:
                        options.append((letter, None))
                    break
                options.append((letter, None))
        else:
            operands.append(word)
        i += 1
    return options, operands


def option_value(options: list[tuple[str, ShellWord | None]], *names: str) -> str | None:
    value: str | None = None
    for name, word in options:
        if name in names:
            value = word.text if word is not None else ""
    return value


def has_option(options: list[tuple[str, ShellWord | None]], *names: str) -> bool:
    return any(name in names for name, _ in options)
