"""`masque serve`: open MASQUE as a local web page (upload, makeup prompt, protect, download)."""

from __future__ import annotations

from typing import Annotated

import typer

from .options import ENGINE_HELP, Device, Model, Surrogates, parse_names


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on. Loopback only (127.0.0.1, localhost, ::1) unless "
                                           "--allow-remote.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 = any free port).", min=0, max=65535)] = 7860,
    engine: Annotated[str, typer.Option(help="Engine selected when the page opens: auto (diffusion when its weights "
                                             "are present, else parametric). " + ENGINE_HELP)] = "auto",
    model: Model = None,
    surrogates: Surrogates = None,
    steps: Annotated[int | None, typer.Option(help="Engine steps for every request (default: the engine's own; "
                                                   "fewer is faster and protects less).", min=1)] = None,
    device: Device = None,
    max_upload_mb: Annotated[float, typer.Option(help="Largest accepted upload (photo + pair) in MB; larger ones "
                                                      "get a clear error.", min=0.1)] = 25.0,
    allow_remote: Annotated[bool, typer.Option(help="Allow a non-loopback --host: anyone who can reach this machine "
                                                    "could then upload photos to it.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not log each request in the terminal.")] = False,
) -> None:
    """Serve a one-page app for protecting your own photos; open the printed address in a browser.

    Photos are processed in a temporary folder that is deleted before the answer is sent; nothing is downloaded or
    sent anywhere. Stop with Ctrl+C.
    """
    from ..devices import default_device
    from ..web.server import ServeConfig, make_server

    names = parse_names(surrogates)
    config = ServeConfig(engine=engine, model=model, surrogates=tuple(names) if names else None, steps=steps,
                         device=default_device(device), max_upload_bytes=int(max_upload_mb * 2**20), quiet=quiet)
    server = make_server(host, port, config, allow_remote=allow_remote)
    typer.echo(f"MASQUE is running at {server.url}  (open it in your browser; Ctrl+C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("Stopped.")
    finally:
        server.server_close()
