#!/bin/sh
echo "tool version $(cat /opt/tool/VERSION)"
cat /opt/tool/latest.txt
