"""OpenAI-compatible endpoints under /v1/: `chat/completions` (streamed or not) and `models`.

Applications written for vLLM, LoRAX, llama.cpp's server or Ollama talk to Annotune's adapters with
the official OpenAI clients: `base_url="http://host/v1"`, `api_key=<an Annotune API token>` (sent as
`Authorization: Bearer <token>`; `Token <token>` works too).

Model ids (the `model` field), within the projects the token's user is a member of:

- `adapter-<id>`: an adapter of one of those projects (archived adapters are not served);
- the adapter's name, as an alias, when no other adapter in scope has that name and it is not
  already an id;
- `<base model name>`: a base model of one of those projects (a project's base model, or the base of
  one of its adapters), answering without any adapter;
- `base`: the chosen project's base model, only when a project is chosen (below).

Scope: every project the user is a member of; an `OpenAI-Project: <project id>` header (the OpenAI
client's `project=` option) narrows it to that one project (404 when the user is not a member, as
everywhere in Annotune; OpenAI's own `proj_…` ids, which the client sends from OPENAI_PROJECT_ID, are
ignored). `GET /v1/models` lists the scope's models.

Requests become `GenerationRequest` rows with one target, answered as the playground's are
(`serving.services.generation.generation_execute` through the serving backend): an inference worker
answers on its cached base model with the adapter switched in place and, for `stream: true`, writes the
answer to the row every few tokens while the web process streams the new text as Server-Sent Events
(or the vLLM server answers). The web process never imports torch.
"""
