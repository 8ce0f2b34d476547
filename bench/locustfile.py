"""Locust doing netra-load's signup-chat journey, for bench/peers.sh: register, login, profile,
create a thread, open the WebSocket and get the first reply, the thread's history, the thread
list. FastHttpUser for HTTP, websocket-client (made cooperative by Locust's gevent) for the chat.

The auth service's URL is --host; the backend's is NETRA_BACKEND. Every journey is a fresh user,
as netra-load's. Each journey is one `journey` event named signup-chat (its steps are Locust's
own requests); at the end the counts go to the JSON file NETRA_LOCUST_OUT."""

import json
import os
import uuid

import websocket
from locust import FastHttpUser, events, task
from locust.exception import StopUser

BACKEND = os.environ["NETRA_BACKEND"]
WS = BACKEND.replace("http://", "ws://", 1) + "/ws"
counts = {"journeys": 0, "failures": 0}
# websocket-client swallows the GreenletExit that Locust stops its users with (a bare `except` in
# its close), so a user that was in the chat would run on: users stop themselves at the next journey.
stopping = False


class Failed(Exception):
    pass


def ok(response, status):
    if response.status_code != status:
        raise Failed(f"{response.request_meta['name']}: {response.status_code}")
    return response.json()


class SignupChat(FastHttpUser):
    @task
    def signup_chat(self):
        if stopping:
            raise StopUser()
        try:
            self.journey()
            counts["journeys"] += 1
        except Exception as e:  # a failed step ends the journey, as in netra-load
            counts["failures"] += 1
            events.request.fire(request_type="journey", name="signup-chat", response_time=0,
                                response_length=0, exception=e, context={})

    def journey(self):
        tag = uuid.uuid4().hex
        email, password = f"locust-{tag}@example.com", "locust-password"
        ok(self.client.post("/auth/register", json={"email": email, "password": password,
                                                    "plan_tier": "enterprise"}, name="register"), 201)
        login = ok(self.client.post("/auth/login", json={"email": email, "password": password}, name="login"), 200)
        bearer = {"Authorization": f"Bearer {login['access_token']}"}
        profile = ok(self.client.get(BACKEND + "/api/users/profile", headers=bearer, name="profile"), 200)
        if profile["email"] != email:
            raise Failed("profile: another user")
        thread = ok(self.client.post(BACKEND + "/api/threads", json={"title": f"locust {tag}"}, headers=bearer,
                                     name="create_thread"), 201)["id"]
        ws = websocket.create_connection(WS, header=[f"Authorization: Bearer {login['access_token']}"])
        try:
            if json.loads(ws.recv())["type"] != "connection_established":
                raise Failed("ws_connect: no connection_established")
            message = f"hello from {email} {tag}"
            ws.send(json.dumps({"type": "user_message", "payload": {"content": message, "thread_id": thread}}))
            while True:
                event = json.loads(ws.recv())
                if event["type"] == "error":
                    raise Failed(f"first_reply: {event['payload']}")
                if event["type"] == "agent_completed" and message in event["payload"]["result"]["content"]:
                    break
        finally:
            ws.close()
        history = ok(self.client.get(f"{BACKEND}/api/threads/{thread}/messages", headers=bearer, name="history"), 200)
        if message not in [m["content"] for m in history["messages"]]:
            raise Failed("history: the message is missing")
        threads = ok(self.client.get(BACKEND + "/api/threads", headers=bearer, name="list_threads"), 200)
        if [t["id"] for t in threads] != [thread]:
            raise Failed("list_threads: not only this user's thread")


@events.test_stopping.add_listener
def stop(**_):
    global stopping
    stopping = True


@events.quitting.add_listener
def write_counts(environment, **_):
    with open(os.environ["NETRA_LOCUST_OUT"], "w") as out:
        json.dump(counts, out)
