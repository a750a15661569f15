"""What every page does before it draws anything: ``setup_page(title, icon)`` as its first call.

It sets the page's title and layout, asks for the operator's password when one is needed (a server that
listens beyond this machine serves no page without one), and holds everything the page opens to the
allowed folders plus this session's own upload folder (``core.access``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Literal

import streamlit as st

from core import access
from core.uploads import UploadFolder
from pages.ui import gate
from pages.ui.text import use_controls

APP = "Grad-CAM explorer"
_AUTHENTICATED = "mmcam_authenticated"  # session state: this browser session gave the password
_UPLOADS = "mmcam_upload_folder"  # session state: this session's UploadFolder (deleted with the session)
PASSWORD_KEY = "mmcam_password"
FAILED_WAIT = 1.0  # seconds a wrong password costs (slows guessing)

log = logging.getLogger("mmaction_cam.app")


def setup_page(title: str, icon: str, *, layout: Literal["centered", "wide"] = "wide",
               controls: Mapping[str, str] | None = None) -> None:
    """The first call of every page: page config, password, allowed folders, and the page's ``controls``
    (command-line flags ``core``'s sentences may name, mapped to this page's own widgets; see
    :func:`pages.ui.text.use_controls`). Stops the page (``st.stop``) until the visitor may see it."""
    st.set_page_config(page_title=title if title == APP else f"{title} · {APP}", page_icon=icon, layout=layout)
    use_controls(controls)
    require_password()
    access.limit(session_roots(), others=access.configured_roots())


def upload_folder() -> UploadFolder:
    """This browser session's upload folder (random name; removed when the session ends)."""
    if _UPLOADS not in st.session_state:
        st.session_state[_UPLOADS] = UploadFolder()
    return st.session_state[_UPLOADS]


def session_roots() -> access.Roots:
    """The folders this session may open: the operator's, the app's own and this session's uploads."""
    return access.configured_roots([upload_folder().path])


def require_password() -> None:
    """Ask for ``MMCAM_PASSWORD`` once per browser session when it is set (unless the browser logged in on
    the gate's page, :mod:`pages.ui.gate`, which guards every route of ``streamlit run explorer.py``);
    refuse to serve any page when the server listens beyond loopback and none is set."""
    password = access.server_password()
    if password is None:
        address = st.get_option("server.address")
        if access.is_loopback(address):
            return
        where = f"on {address}" if address else "on every network interface"
        log.error("refusing to serve pages %s without %s", where, access.PASSWORD_ENV)
        st.error(f"This server listens {where}, so anyone who reaches it could read files and run models "
                 f"here; it serves no page without a password. Stop it and start it again with "
                 f"{access.PASSWORD_ENV} set (`{access.PASSWORD_ENV}='a long passphrase' streamlit run "
                 "explorer.py --server.address 0.0.0.0`), or with `--server.address 127.0.0.1` to use it on "
                 "this machine only.", icon=":material/lock:")
        st.stop()
    if st.session_state.get(_AUTHENTICATED) or gate.logged_in(st.context.cookies.get(gate.COOKIE)):
        return  # this session gave the password, or its browser did on the gate's login page
    st.title(APP)
    with st.form("mmcam_login"):
        given = st.text_input("Password", type="password", key=PASSWORD_KEY,
                              help=f"The password whoever runs this server set in {access.PASSWORD_ENV}.")
        sent = st.form_submit_button("Open", type="primary", key="mmcam_login_submit")
    if sent:
        if access.password_matches(given, password):
            st.session_state[_AUTHENTICATED] = True
            del st.session_state[PASSWORD_KEY]
            st.rerun()
        time.sleep(FAILED_WAIT)
        st.error("Wrong password.", icon=":material/lock:")
    st.stop()
