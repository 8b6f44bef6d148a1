"""Demo data for the sandbox provider (``manage.py seed_demo`` runs :func:`seed`)."""

from __future__ import annotations

from django.db import transaction

from connections.sandbox.models import (
    SandboxAccount,
    SandboxChannel,
    SandboxDriveFile,
    SandboxFile,
    SandboxIssue,
    SandboxMessage,
    SandboxOrg,
    SandboxRepo,
)

FOLDER = SandboxDriveFile.FOLDER


def _account(flavour, uid, login, name, email):
    account, _ = SandboxAccount.objects.update_or_create(
        flavour=flavour, uid=uid, defaults={"login": login, "name": name, "email": email}
    )
    return account


def _repo(gh_id, owner, name, members, *, private=False, description="", files=None):
    repo, _ = SandboxRepo.objects.update_or_create(
        gh_id=gh_id,
        defaults={"owner": owner, "name": name, "private": private, "description": description},
    )
    repo.members.set(members)
    for path, content in (files or {}).items():
        SandboxFile.objects.update_or_create(repo=repo, path=path, defaults={"content": content})
    return repo


def _drive(file_id, owner, name, mime, parent=None, content=b""):
    item, _ = SandboxDriveFile.objects.update_or_create(
        file_id=file_id,
        defaults={
            "owner": owner,
            "name": name,
            "mime_type": mime,
            "parent": parent,
            "content": content,
        },
    )
    return item


@transaction.atomic
def seed_sandbox() -> dict:
    # GitHub: two people, an organisation with enough repositories to need pagination.
    octocat = _account(
        "sandbox_github", "583231", "octocat", "The Octocat", "octocat@sandbox.example"
    )
    hubot = _account("sandbox_github", "480938", "hubot", "Hubot", "hubot@sandbox.example")
    org, _ = SandboxOrg.objects.update_or_create(
        gh_id=9919, defaults={"login": "octo-demo", "description": "Demo organisation"}
    )
    org.members.set([octocat])
    docs = _repo(
        100001,
        "octo-demo",
        "docs",
        [octocat],
        description="Documentation for the demo",
        files={
            "README.md": "# Docs\n\nThe demo documentation.\n",
            "guide/getting-started.md": "# Getting started\n\nConnect a service, then approve an app.\n",
            "guide/faq.md": "# FAQ\n\nQ: Where are my tokens? A: Encrypted in the vault.\n",
        },
    )
    _repo(
        100002,
        "octo-demo",
        "website",
        [octocat],
        description="The demo website",
        files={"index.html": "<h1>Octo demo</h1>\n", "README.md": "# Website\n"},
    )
    _repo(
        100003,
        "octo-demo",
        "secret-plans",
        [octocat],
        private=True,
        description="Private plans",
        files={"plans.md": "# Plans\n\nWorld domination, politely.\n"},
    )
    _repo(100004, "octocat", "hello-world", [octocat], files={"README": "Hello World!\n"})
    _repo(100005, "hubot", "robot-brain", [hubot], private=True, files={"brain.txt": "beep\n"})
    for n in range(1, 36):
        _repo(
            100100 + n,
            "octo-demo",
            f"sample-{n:02d}",
            [octocat],
            description=f"Sample repository {n}",
            files={"README.md": f"# Sample {n}\n"},
        )
    for number, title in enumerate(["Fix typo in guide", "Add FAQ entry", "Document the vault"], 1):
        SandboxIssue.objects.update_or_create(
            gh_id=5000 + number,
            defaults={
                "repo": docs,
                "number": number,
                "title": title,
                "body": f"{title}.",
                "author": octocat,
            },
        )

    # Slack: two people in one workspace, public and private channels, enough to paginate.
    alice = _account(
        "sandbox_slack", "U0ALICE01", "alice", "Alice Example", "alice@sandbox.example"
    )
    bob = _account("sandbox_slack", "U0BOB0001", "bob", "Bob Example", "bob@sandbox.example")
    channels = [
        ("C0GENERAL1", "general", False, [alice, bob]),
        ("C0RANDOM01", "random", False, [alice, bob]),
        ("C0ENGINEER", "engineering", False, [alice]),
        ("G0PRIVATE1", "leadership", True, [alice]),
        *[(f"C0PROJ{n:04d}", f"project-{n:02d}", False, [alice]) for n in range(1, 13)],
    ]
    for channel_id, name, private, members in channels:
        channel, _ = SandboxChannel.objects.update_or_create(
            channel_id=channel_id,
            defaults={"name": name, "is_private": private, "topic": f"About {name}"},
        )
        channel.members.set(members)
    general = SandboxChannel.objects.get(channel_id="C0GENERAL1")
    for i, (author, text) in enumerate(
        [(alice, "Welcome to the sandbox!"), (bob, "Hello, Alice."), (alice, "Deploy at 3pm.")]
    ):
        SandboxMessage.objects.update_or_create(
            channel=general, ts=f"1700000{i:03d}.000100", defaults={"author": author, "text": text}
        )

    # Google Drive: a folder tree per person.
    ada = _account(
        "sandbox_google", "110001", "ada@sandbox.example", "Ada Lovelace", "ada@sandbox.example"
    )
    grace = _account(
        "sandbox_google", "110002", "grace@sandbox.example", "Grace Hopper", "grace@sandbox.example"
    )
    projects = _drive("1FoldProjectsAda", ada, "Projects", FOLDER)
    reports = _drive("1FoldReportsAda", ada, "Reports", FOLDER, projects)
    _drive("1FoldArchiveAda", ada, "Archive", FOLDER)
    _drive("1FileNotesAda", ada, "notes.txt", "text/plain", projects, b"Analytical engine notes.\n")
    _drive("1FilePlanAda", ada, "plan.md", "text/markdown", projects, b"# Plan\n\n1. Compute.\n")
    for n in range(1, 13):
        _drive(
            f"1FileReport{n:02d}",
            ada,
            f"report-{n:02d}.csv",
            "text/csv",
            reports,
            f"month,{n}\n".encode(),
        )
    cobol = _drive("1FoldCobolGrace", grace, "COBOL", FOLDER)
    _drive("1FileBugGrace", grace, "first-bug.txt", "text/plain", cobol, b"A moth.\n")
    return {"sandbox_accounts": SandboxAccount.objects.count()}


def seed(*, stdout, context) -> dict:
    result = seed_sandbox()
    stdout.write(
        "Sandbox provider: GitHub octocat/hubot, Slack alice/bob, Google ada/grace "
        f"({result['sandbox_accounts']} demo accounts)."
    )
    return result
