import sys

from bot.channels.twilio.report import main

sys.exit(main())
