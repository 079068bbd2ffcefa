"""Files in and out: CSV imports, the web upload, CDISC, SAS transport, SDTM, exports."""
