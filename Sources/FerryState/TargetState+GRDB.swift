import FerryCore
import GRDB

extension TargetState: DatabaseValueConvertible {}
